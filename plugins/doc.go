// Package plugins runs router handlers as separate processes, launched and
// managed through HashiCorp's go-plugin, and is the SDK for writing them.
//
// # Writing a plugin
//
// A plugin is a main package that hands its handlers to Serve:
//
//	func main() {
//		plugins.Serve(plugins.Handlers{
//			"upper": core.HandlerFunc(func(ctx context.Context, m *core.Message) (*core.Message, error) {
//				return core.NewBinary("text/plain", bytes.ToUpper(m.Content)), nil
//			}),
//		})
//	}
//
// Each handler is named; by default a handler serves the JSON action of
// its name. ServePlugin takes a Plugin, which also sets the plugin's name
// and version and, per handler, the actions and content-types it serves:
// the router checks its routes against them before traffic flows. A
// handler, or the Plugin's Init, receives the plugin's settings from the
// router's config before the first request.
//
// Logs go to stderr as hclog JSON (use Logger); the router re-emits them
// under a logger named after the plugin. Stdout belongs to the go-plugin
// handshake: a plugin must not print to it.
//
// # Running plugins
//
// Start launches a plugin executable (or "builtin:NAME", which re-executes
// the router itself as "router plugin NAME"), checks it, and returns a
// *Process whose Handler method gives a core.Handler for each of the
// plugin's handlers. A Process restarts its plugin with backoff when it
// dies or fails a health check (a process that no longer answers is
// killed with SIGKILL), answering the requests in flight with an error;
// after its restart limit it is failed for a cool-down, then started
// again. The plugin runs in a process group of its own, and stopping it
// stops what it started; its exit is seen from the process itself. At
// most Config.MaxInFlight requests are sent to it at once: the others
// wait their turn, so a slow plugin is never killed for being slow.
// Shutdown waits for the requests in flight, asks the process to stop,
// and kills it if it has not within 3 seconds or by the end of
// Shutdown's context. A plugin exits by itself when the router dies, and
// ignores SIGHUP. StartPool runs several processes of one plugin, and
// balances requests across them.
//
// # The data path
//
// go-plugin's gRPC connection is the control channel (describe, init,
// health checks, logs). Requests travel over a second connection: two
// pipes the router makes for each plugin process and passes it as
// descriptors, named in the ROUTER_PLUGIN_DATA_FDS variable, one for the
// requests and one for the answers. (A plugin built before them opens a
// Unix socket in a private directory instead, unlinked once the router is
// connected, and names it in its Describe answer.)
//
// Two data protocols run on it. The router offers both in the
// ROUTER_PLUGIN_DATA_PROTOCOLS variable ("1,2"); a plugin picks one and
// names it in its Describe answer, and a plugin that does not know the
// variable (an older one, or the Python SDK) speaks 1.
//
// Protocol 2 (this package's plugins) wraps frames in a binary envelope
// (see envelope.go): the request's id, deadline and handler, then the
// client's frame as the router read it; the answer's id, then the frame
// the plugin's encoder wrote, or the handler's error text. The router
// decodes an answer's header to check it as it checks a client's request
// (lengths, JSON, content-length, the answer limit), and writes the
// frame to the client as it came (see core.Message.Frame): neither side
// encodes a message the other has encoded already.
//
// Protocol 1 carries the router's own framing: the request as it
// arrived, plus the extension headers "router-id", "router-handler" and
// "router-deadline" (Unix nanoseconds). Answers carry "router-id", and
// "router-error" for a failure (the handler's error text, cut to 8 KiB: a
// header holds at most 64 KiB); a frame with "router-cancel" and no
// "router-id" cancels a request the router gave up on.
//
// Every request decoded from one client read goes to the plugin in one
// write. The plugin answers a batch on the goroutine that read it and
// writes its answers in one write; a request that takes longer than 10
// to 20 milliseconds hands the rest of its batch, and the reading, to a
// new goroutine, so a slow or hung handler holds up no other request for
// longer than that, and its handler is marked slow: its requests then
// run each in a goroutine of its own as soon as they are read. Answers
// may come back out of order; the router matches them by id. The router
// tells the plugin its answer limit; an answer above it is that
// request's error (ErrAnswerTooLarge), not a break of the data path.
//
// Answers are lent on both sides (see core.Message.Lend): the router
// decodes a plugin's answers into Messages it reuses once the Server has
// written them, and a plugin's handler may lend its own answers, which
// the plugin releases once it has encoded them (the search handler
// does).
package plugins
