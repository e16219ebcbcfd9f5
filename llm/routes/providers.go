package routes

import (
	"fmt"
	"net/http"

	"github.com/junctionhq/junction/llm/chat"
	"github.com/junctionhq/junction/llm/provider/anthropic"
	"github.com/junctionhq/junction/llm/provider/gemini"
	"github.com/junctionhq/junction/llm/provider/openai"
)

// buildProvider makes the provider a config entry names, with its own
// transport (connect timeout) and the client format it can forward as is.
func buildProvider(pc ProviderConfig) (chat.Provider, string, error) {
	client := &http.Client{Transport: chat.NewTransport(chat.TransportOptions{ConnectTimeout: pc.Timeouts.Connect})}
	var (
		p   chat.Provider
		err error
	)
	switch pc.Type {
	case TypeOpenAI, TypeAzure:
		oc := openai.Config{Name: pc.Name, BaseURL: pc.BaseURL, HTTPClient: client, Headers: pc.Headers}
		if oc.BaseURL == "" {
			oc.BaseURL = "https://api.openai.com/v1"
		}
		if pc.Type == TypeAzure {
			oc.Azure = &openai.AzureConfig{APIVersion: pc.APIVersion}
		}
		p, err = openai.New(oc)
	case TypeAnthropic:
		p, err = anthropic.New(anthropic.Config{Name: pc.Name, BaseURL: pc.BaseURL, HTTPClient: client, Headers: pc.Headers})
	case TypeGemini:
		p, err = gemini.New(gemini.Config{Name: pc.Name, BaseURL: pc.BaseURL, HTTPClient: client, Headers: pc.Headers})
	default:
		err = fmt.Errorf("unknown type %q", pc.Type)
	}
	if err != nil {
		return nil, "", fmt.Errorf("llm: provider %s: %w", pc.Name, err)
	}
	return p, formatOf(p, pc.Type), nil
}

// formatOf is the client wire format p can take byte for byte.
func formatOf(p chat.Provider, typ string) string {
	if _, ok := p.(chat.Forwarder); !ok {
		return ""
	}
	switch typ {
	case TypeOpenAI, TypeAzure:
		return chat.FormatOpenAI
	case TypeAnthropic:
		return chat.FormatAnthropic
	}
	return ""
}
