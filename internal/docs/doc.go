// Package docs has no code: its test runs the commands of the user guide
// (README.md, docs/*.md, config/README.md and the examples' READMEs) and
// checks their output, so that the guide cannot drift from the code.
//
// The test reads the guide's fenced blocks:
//
//   - a "console" block holds commands after "$ " and, below each, lines
//     its output must contain, in order ("..." skips any);
//   - an "sh" block holds commands, one a line, whose output is not
//     checked;
//   - a block right after the comment <!-- docs: file NAME --> is written
//     to the file NAME, as a reader would save it;
//   - a block after <!-- docs: skip REASON --> is not run, and the test
//     logs why; REASON must say what runs it instead.
//   - a block after <!-- docs: server-log --> holds lines the server that
//     runs must have logged, in order ("..." skips any).
//
// Commands run with bash, in order, in a copy of the repository, with the
// router built and on the PATH as "router" ("go run ./cmd/router" runs
// that binary too, and "go run ./examples/embed" the built example). A
// command that ends in "# exit N" must exit with status N, every other
// with 0. A command that serves (and is not expected to fail) ("router
// serve", the embed example) runs in the background until the next one
// that serves, or the end of its file; the test waits for its "listening"
// log line. A "router worker" command runs in the background beside it,
// until the same point, and the test waits for its "worker serving" log
// line; they are stopped the last started first. A command whose output
// does not match yet is retried for a few seconds: a reload may be under
// way. Commands that need python3 or curl are skipped, saying so,
// where those are not installed.
package docs
