// Package shmring is issue 19's item 6 experiment, kept for its figures:
// a ring of fixed-size slots in memory shared by two processes (a memfd
// both map), with an eventfd to wake a consumer that went to sleep,
// against the pipes the plugin data path uses. Its benchmarks measure
// both between a process and a child; BENCHMARKS.md has the result. The
// router does not use it.
package shmring
