// Package plugintest tests a router plugin for real, in one go test: it
// builds the plugin (or takes any executable), starts it through the
// router's own host side (plugins.Start), and checks it against the
// plugin contract.
//
// A plugin's main_test.go:
//
//	func TestPlugin(t *testing.T) {
//		bin := plugintest.Build(t, ".") // this package's main
//		plugintest.Run(t, plugintest.Config{Cmd: bin, Handlers: []string{"upper"}},
//			plugintest.Case{
//				Name:    "json",
//				Handler: "upper",
//				Request: plugintest.Action("upper", "hello"), // {"action": "upper", "value": "hello"}
//				Want:    plugintest.Result("HELLO"),          // {"result": "HELLO"}
//			},
//			plugintest.Case{
//				Name:      "no value",
//				Handler:   "upper",
//				Request:   plugintest.JSON(core.Object{{Key: "action", Value: "upper"}}),
//				WantError: "needs a string",
//			},
//		)
//	}
//
// Run checks, in order, and reports every failure with t.Error:
//
//   - the plugin starts: go-plugin handshake, protocol version, its
//     description, Init with Config.Settings, and its data path;
//   - its declarations: it declares every handler named in
//     Config.Handlers, each handler declares at least one action or
//     content-type, no two handlers declare the same action or
//     content-type, and each Case's request is one the handler's
//     declarations would route to it;
//   - each Case, one at a time; then Copies copies of every case at once,
//     in rounds started a moment apart so that the plugin is still busy
//     with one round when the next arrives (this catches state shared
//     between requests); then each handler's cases in one batch, as the
//     router sends the requests that arrive together;
//   - requests to each handler whose deadline is about to pass come back,
//     answered or not, within DeadlineGrace of it. The router gives up on
//     a request at its deadline and tells the plugin to drop it; the
//     plugin must then finish each within DeadlineGrace too (a handler
//     that ignores its context fails here), and the cases run once more
//     afterwards, so a handler that leaves state or a lock behind is
//     caught;
//   - Shutdown: the plugin exits when the router asks it to (rather than
//     being killed), and its process is gone within ShutdownTimeout.
//
// A plugin whose process dies fails the run at once: the checks left are
// skipped, and the plugin is not restarted.
//
// Answers are compared byte for byte, so a JSON answer must be in the
// reference layout that core.NewJSON writes. Time limits are generous:
// the checks do not depend on the machine's speed.
//
// The plugin's logs, and the host's, are shown when a check fails.
//
// Config.Cmd may be any command, not only a Go build: a plugin in
// another language is checked against the same contract, its script
// given in Args. A Python plugin (see sdk/python):
//
//	plugintest.Run(t, plugintest.Config{
//		Cmd:      "/usr/bin/python3",
//		Args:     []string{"examples/python/search.py"},
//		Handlers: []string{"search"},
//	}, cases...)
//
// Instead of Build, a test can run its own test binary as the plugin (the
// re-exec trick): a TestMain that calls plugins.Serve when an environment
// variable is set, and a Config with Cmd os.Args[0] and that variable in
// Env.
package plugintest
