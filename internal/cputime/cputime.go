// Package cputime reads the CPU time (user and system) that the process,
// and its children, have used, for benchmarks that report CPU time per
// request: it moves less than a rate when other work shares the machine.
// Where the system does not tell, the functions return 0.
package cputime
