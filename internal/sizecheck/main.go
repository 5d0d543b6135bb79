// Command sizecheck reports the Go files and functions of a module that
// are longer than the house limits (see DESIGN.md: under 100 lines a
// function, 600 a file), for CI:
//
//	go run ./internal/sizecheck [-max-file 600] [-max-func 100] [root]
//
// It reads every .go file under root (default ".") except tests
// (_test.go), generated files (a "// Code generated ... DO NOT EDIT."
// comment before the package clause), and what the go command ignores:
// testdata, directories whose name starts with "." or "_", and other
// modules nested in the tree. A function is counted from its func line
// to its closing brace, its doc comment left out; function literals
// count towards the function they are in. It prints one line per file
// or function over its limit, sorted by path and line:
//
//	config/load.go: 650 lines (limit 600)
//	config/load.go:74: function Load is 120 lines (limit 100)
//	core/mux.go:30: function Mux.Handle is 101 lines (limit 100)
//
// It exits 1 if it printed any, 2 if it could not read or parse the
// tree, and 0 otherwise.
package main

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command with its arguments and outputs, returning the exit
// code.
func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("sizecheck", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: sizecheck [-max-file N] [-max-func N] [root]")
		fl.PrintDefaults()
	}
	maxFile := fl.Int("max-file", 600, "the most lines a file may have")
	maxFunc := fl.Int("max-func", 100, "the most lines a function may have, from its func line to its closing brace")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() > 1 || *maxFile < 1 || *maxFunc < 1 {
		fl.Usage()
		return 2
	}
	root := "."
	if fl.NArg() == 1 {
		root = fl.Arg(0)
	}
	vs, err := check(root, limits{file: *maxFile, fn: *maxFunc})
	if err != nil {
		fmt.Fprintln(stderr, "sizecheck:", err)
		return 2
	}
	for _, v := range vs {
		fmt.Fprintln(stdout, v)
	}
	if len(vs) > 0 {
		return 1
	}
	return 0
}

// limits are the most lines a file and a function may have.
type limits struct {
	file, fn int
}

// violation is one file or function over its limit.
type violation struct {
	path  string
	line  int    // the func line; 0 for the file as a whole
	fn    string // the function, as NAME or TYPE.METHOD; "" for the file
	lines int
	limit int
}

func (v violation) String() string {
	if v.fn == "" {
		return fmt.Sprintf("%s: %d lines (limit %d)", v.path, v.lines, v.limit)
	}
	return fmt.Sprintf("%s:%d: function %s is %d lines (limit %d)", v.path, v.line, v.fn, v.lines, v.limit)
}

// check returns the violations of the Go files under root, sorted by
// path and line.
func check(root string, lim limits) ([]violation, error) {
	var out []violation
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		vs, err := checkFile(path, lim)
		out = append(out, vs...)
		return err
	})
	slices.SortFunc(out, func(a, b violation) int {
		return cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.line, b.line))
	})
	return out, err
}

// skipDir reports whether the go command leaves the directory at path,
// named name, out of the module.
func skipDir(path, name string) bool {
	if name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil // another module
}

// checkFile returns the violations of the file at path, or none if it is
// generated.
func checkFile(path string, lim limits) ([]violation, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	if ast.IsGenerated(f) {
		return nil, nil
	}
	name := filepath.ToSlash(path)
	var out []violation
	if n := countLines(src); n > lim.file {
		out = append(out, violation{path: name, lines: n, limit: lim.file})
	}
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		start := fset.Position(fd.Pos()).Line
		n := fset.Position(fd.Body.Rbrace).Line - start + 1
		if n > lim.fn {
			out = append(out, violation{path: name, line: start, fn: funcName(fd), lines: n, limit: lim.fn})
		}
	}
	return out, nil
}

// countLines counts the lines of src as wc -l does, with a last line
// that has no newline counted too.
func countLines(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// funcName returns a function's name, or TYPE.METHOD for a method.
func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	for {
		switch x := t.(type) {
		case *ast.StarExpr:
			t = x.X
			continue
		case *ast.ParenExpr:
			t = x.X
			continue
		case *ast.IndexExpr: // T[K]
			t = x.X
			continue
		case *ast.IndexListExpr: // T[K, V]
			t = x.X
			continue
		case *ast.Ident:
			return x.Name + "." + fd.Name.Name
		}
		return fd.Name.Name
	}
}
