package upstream

import "github.com/junctionhq/junction/llm/chat"

// Recv is the Recv loop of a provider's stream: it returns *sticky once a
// step has failed (io.EOF at the end included), else calls step, which
// reads one event, until a step gives a chunk to send or fails. A step
// returns (nil, nil) for an event that carries nothing to send; its error
// is stored in *sticky.
func Recv(sticky *error, step func() (*chat.Chunk, error)) (*chat.Chunk, error) {
	if *sticky != nil {
		return nil, *sticky
	}
	for {
		c, err := step()
		if err != nil {
			*sticky = err
			return nil, err
		}
		if c != nil {
			return c, nil
		}
	}
}
