// Package core is the heart of the router: the wire protocol of the classic
// Python sockets tutorial's app-server (a 2-byte big-endian header length,
// a UTF-8 JSON header, then the content), the Message type with its
// byte-exact encoder and incremental decoder, the Handler interface, the
// route table (Mux), the Server that owns listeners and connections, and a
// pipelining Client.
//
// core imports none of the router's other packages: a program that embeds
// the router and builds it in code pulls in only this package and hclog.
package core
