// Package router runs the router a config describes: its listeners, its
// plugins (processes, or in-process) and its route table, served by one
// core.Server, reloaded without dropping a connection. An embedding
// program writes
//
//	cfg, err := config.Load("router.yaml", config.LoadOptions{})
//	r, err := router.Start(ctx, cfg, router.StartOptions{})
//	go r.Serve()
//	...
//	r.Reload(ctx, newCfg) // or r.ReloadFile, r.Watch
//	r.Shutdown(ctx)
//
// # Running
//
// Start builds a Router from a *config.Config: it opens the listeners, starts
// the plugins together, checks every route against the actions and
// content-types its plugin's handler declared, and builds the route
// table. Serve serves it; Shutdown stops it, connections first, then
// plugins.
//
// # Reloading
//
// Reload (what a SIGHUP should trigger, through ReloadFile) and Watch
// (on file change) apply a new Config without dropping a connection:
// new or changed plugins are started, added listeners opened, and only
// then is the route table swapped, atomically. A request in flight
// finishes on the table it started with; plugins that only the old
// table used are stopped once its requests are done; removed listeners
// are closed, their connections left to finish. A config that fails
// anywhere on the way changes nothing, and the last good one keeps
// serving.
package router
