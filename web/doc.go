// Package web holds the embedded admin UI's assets, served by gateway under
// /ui/. It imports nothing of Junction's: the UI talks to the admin API like
// any other client.
package web
