// Package testdb makes throwaway databases for the store's tests: a private
// Postgres schema per test (so parallel runs and CI never collide) and raw
// database/sql handles that reach a database around the Store under test.
//
// It must not import package store, so that store's own in-package tests can
// use it as well as package storetest.
package testdb
