// Package providerstore owns the LLM providers made through the admin API:
// their rows in the store (resource kind "provider"), their key values and
// header values sealed at rest (store/secret, under a key derived from the
// process's secret key), and keeping the LLM service's provider set in step
// with the configuration file's providers plus the store's, on every
// replica, by following the store's change feed. Providers of the
// configuration file are read-only here.
//
// It renders nothing: the admin API's HTTP handlers live in gateway.
package providerstore
