// Package redistest starts real redis-server processes for tests: thin
// testing.TB helpers over internal/redisproc that put each server or
// topology in a temporary directory, stop it when the test ends and fail
// the test (never skip it) when redis-server is missing.
//
// It is the only package outside _test files that imports testing, so only
// tests may import it; `studio up` uses redisproc directly. The names below
// are redisproc's, re-exported so a test needs one import.
package redistest

import "github.com/studiohq/studio/internal/redisproc"

// Types of internal/redisproc.
type (
	Server         = redisproc.Server
	Config         = redisproc.Config
	TLSOptions     = redisproc.TLSOptions
	Topology       = redisproc.Topology
	SentinelConfig = redisproc.SentinelConfig
	Cluster        = redisproc.Cluster
	ClusterConfig  = redisproc.ClusterConfig
	CA             = redisproc.CA
	CertSpec       = redisproc.CertSpec
)

// Functions of internal/redisproc.
var (
	Launch         = redisproc.Launch
	LaunchTLS      = redisproc.LaunchTLS
	LaunchSentinel = redisproc.LaunchSentinel
	LaunchCluster  = redisproc.LaunchCluster
	KillStale      = redisproc.KillStale
	KillStaleTree  = redisproc.KillStaleTree
	NewCA          = redisproc.NewCA
	WriteBundle    = redisproc.WriteBundle
)

// Errors of internal/redisproc.
var (
	ErrNoRedisServer = redisproc.ErrNoRedisServer
	ErrNoMaster      = redisproc.ErrNoMaster
)

// File names and settings of internal/redisproc.
const (
	PidFileName        = redisproc.PidFileName
	LogFileName        = redisproc.LogFileName
	SentinelConfName   = redisproc.SentinelConfName
	NodeConfName       = redisproc.NodeConfName
	ClusterConfName    = redisproc.ClusterConfName
	ClusterNodeTimeout = redisproc.ClusterNodeTimeout
)
