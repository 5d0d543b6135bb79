package docs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/msgrouter/router/internal/syncbuf"
)

// The addresses the guide's servers use.
var guidePorts = []string{"127.0.0.1:65432", "127.0.0.1:65433", "127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:9108", "127.0.0.1:4222"}

// guideFiles lists the guide's files, in the order a reader meets them,
// relative to the repository's root.
func guideFiles(t *testing.T, root string) []string {
	files := []string{"README.md", "config/README.md"}
	for _, pattern := range []string{"docs/*.md", "examples/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			files = append(files, rel)
		}
	}
	return files
}

// block is one fenced block the test acts on.
type block struct {
	file, lang string
	line       int    // of the opening fence, 1-based
	writeTo    string // <!-- docs: file NAME -->
	skip       string // <!-- docs: skip REASON -->
	serverLog  bool   // <!-- docs: server-log -->: lines the server logs
	body       []string
}

var directive = regexp.MustCompile(`^<!-- docs: (file|skip|server-log)(?: (.+?))? -->$`)

// parse returns the fenced blocks of a Markdown file.
func parse(name string, text []byte) []block {
	var out []block
	var cur *block
	var pending block
	for i, line := range strings.Split(string(text), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if strings.HasPrefix(trimmed, "```") {
				out = append(out, *cur)
				cur = nil
				continue
			}
			cur.body = append(cur.body, line)
			continue
		}
		if m := directive.FindStringSubmatch(trimmed); m != nil {
			switch m[1] {
			case "file":
				pending.writeTo = m[2]
			case "skip":
				pending.skip = m[2]
			default:
				pending.serverLog = true
			}
			continue
		}
		if lang, ok := strings.CutPrefix(trimmed, "```"); ok {
			b := pending
			b.file, b.lang, b.line = name, strings.TrimSpace(lang), i+1
			cur = &b
			pending = block{}
			continue
		}
		if trimmed != "" {
			pending = block{}
		}
	}
	return out
}

// command is one command of the guide and what it must print.
type command struct {
	where    string // file:line
	text     string
	want     []string
	exitCode int
}

var exitComment = regexp.MustCompile(`\s+#\s*exit (\d+)\s*$`)

// commands returns a console or sh block's commands.
func (b block) commands() []command {
	var out []command
	indent := ""
	for i, line := range b.body {
		if i == 0 {
			indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
		}
		line = strings.TrimPrefix(line, indent)
		where := fmt.Sprintf("%s:%d", b.file, b.line+1+i)
		switch b.lang {
		case "console":
			if cmd, ok := strings.CutPrefix(line, "$ "); ok {
				out = append(out, command{where: where, text: cmd})
			} else if len(out) > 0 {
				out[len(out)-1].want = append(out[len(out)-1].want, line)
			}
		case "sh":
			if s := strings.TrimSpace(line); s != "" && !strings.HasPrefix(s, "#") {
				out = append(out, command{where: where, text: line})
			}
		}
	}
	for i := range out {
		if m := exitComment.FindStringSubmatch(out[i].text); m != nil {
			out[i].exitCode, _ = strconv.Atoi(m[1])
		}
	}
	return out
}

// session runs the commands of the guide.
type session struct {
	t       *testing.T
	dir     string // the copy of the repository the commands run in
	env     []string
	servers []*server
}

type server struct {
	cmd    *exec.Cmd
	out    *syncbuf.Buffer
	exited chan error
	where  string
}

// rewrite runs the built binaries for "go run" of them.
func rewrite(cmd string) string {
	cmd = strings.ReplaceAll(cmd, "go run ./cmd/router", "router")
	return strings.ReplaceAll(cmd, "go run ./examples/embed", "embed")
}

var serves = regexp.MustCompile(`(^|[\s/])(router serve|embed)(\s|$)`)

// works matches a command that runs a worker: it runs in the background
// beside the server, until the next command that serves.
var works = regexp.MustCompile(`(^|[\s/])router worker(\s|$)`)

func (s *session) run(c command) {
	t := s.t
	text := rewrite(c.text)
	for _, tool := range []string{"python3", "curl"} {
		if strings.Contains(text, tool+" ") {
			if _, err := exec.LookPath(tool); err != nil {
				t.Logf("%s: skipped, no %s here: %s", c.where, tool, c.text)
				return
			}
		}
	}
	if serves.MatchString(text) && c.exitCode == 0 {
		s.stopServers()
		s.serve(c, text, "listening:")
		return
	}
	if works.MatchString(text) && c.exitCode == 0 {
		s.serve(c, text, "worker serving")
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, code, err := s.exec(text)
		if err != nil {
			t.Fatalf("%s: %s: %v\n%s", c.where, c.text, err, out)
		}
		problem := ""
		if code != c.exitCode {
			problem = fmt.Sprintf("exit status %d, want %d", code, c.exitCode)
		} else if miss := match(out, c.want); miss != "" {
			problem = fmt.Sprintf("output lacks %q", miss)
		}
		if problem == "" {
			t.Logf("%s: ok: %s", c.where, c.text)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %s: %s; output:\n%s\nservers' logs:\n%s", c.where, c.text, problem, out, s.serverLogs())
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// exec runs one command to its end and returns its output, stdout and
// stderr together.
func (s *session) exec(text string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", text)
	cmd.Dir, cmd.Env = s.dir, s.env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ctx.Err() == nil {
		return string(out), ee.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, err
	}
	return string(out), 0, nil
}

// serve starts a command that serves, in the background, and waits for
// its log line ready.
func (s *session) serve(c command, text, ready string) {
	t := s.t
	cmd := exec.Command("bash", "-c", "exec "+text)
	cmd.Dir, cmd.Env = s.dir, s.env
	srv := &server{cmd: cmd, out: &syncbuf.Buffer{}, exited: make(chan error, 1), where: c.where}
	cmd.Stdout, cmd.Stderr = srv.out, srv.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %s: %v", c.where, c.text, err)
	}
	go func() { srv.exited <- cmd.Wait() }()
	s.servers = append(s.servers, srv)
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(srv.out.String(), ready) {
		select {
		case err := <-srv.exited:
			s.servers = s.servers[:len(s.servers)-1]
			t.Fatalf("%s: %s: exited before %q (%v):\n%s", c.where, c.text, ready, err, srv.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: no %q after 60s:\n%s", c.where, c.text, ready, srv.out)
		}
	}
	time.Sleep(200 * time.Millisecond) // its other listeners
	t.Logf("%s: serving: %s", c.where, c.text)
}

// stopServers stops the servers as Ctrl-C would, the last started first
// (a worker before the router whose NATS server it uses), and checks they
// exit 0.
func (s *session) stopServers() {
	for i := len(s.servers) - 1; i >= 0; i-- {
		srv := s.servers[i]
		srv.cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-srv.exited:
			if err != nil {
				s.t.Errorf("%s: the server exited with %v after SIGINT:\n%s", srv.where, err, srv.out)
			}
		case <-time.After(20 * time.Second):
			srv.cmd.Process.Kill()
			<-srv.exited
			s.t.Errorf("%s: the server still ran 20s after SIGINT:\n%s", srv.where, srv.out)
		}
	}
	s.servers = nil
}

// checkServerLog checks that the running server has logged the block's
// lines, in order, waiting a little for them.
func (s *session) checkServerLog(b block) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		miss := match(s.serverLogs(), b.body)
		if miss == "" {
			s.t.Logf("%s:%d: the server logged what the guide says", b.file, b.line)
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("%s:%d: the server has not logged %q; its log:\n%s", b.file, b.line, miss, s.serverLogs())
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *session) serverLogs() string {
	var b strings.Builder
	for _, srv := range s.servers {
		fmt.Fprintf(&b, "--- %s\n%s", srv.where, srv.out)
	}
	return b.String()
}

// match returns "" if out holds the wanted lines in order, else the first
// missing one. "..." skips any output.
func match(out string, want []string) string {
	rest := out
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "" || w == "..." {
			continue
		}
		i := strings.Index(rest, w)
		if i < 0 {
			return w
		}
		rest = rest[i+len(w):]
	}
	return ""
}

// copyRepo copies the repository at root, without .git, to dst.
func copyRepo(t *testing.T, root, dst string) {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGuide runs every command of the guide.
func TestGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole guide; not with -short")
	}
	for _, addr := range guidePorts {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			msg := fmt.Sprintf("%s is taken (a router running?): the guide's commands need it: %v", addr, err)
			if os.Getenv("ROUTER_TEST_DOCS") == "require" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		l.Close()
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for name, pkg := range map[string]string{"router": "./cmd/router", "embed": "./examples/embed"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var blocks []block
	for _, f := range guideFiles(t, root) {
		text, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, parse(f, text)...)
	}

	work := filepath.Join(t.TempDir(), "router")
	copyRepo(t, root, work)
	s := &session{t: t, dir: work, env: append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))}
	defer s.stopServers()

	ran, file := 0, ""
	for _, b := range blocks {
		if b.file != file {
			s.stopServers() // each file starts afresh
			file = b.file
		}
		switch {
		case b.skip != "":
			t.Logf("%s:%d: not run here: %s", b.file, b.line, b.skip)
		case b.serverLog:
			s.checkServerLog(b)
		case b.writeTo != "":
			body := strings.Join(b.body, "\n") + "\n"
			if err := os.WriteFile(filepath.Join(work, b.writeTo), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s:%d: wrote %s", b.file, b.line, b.writeTo)
		case b.lang == "console" || b.lang == "sh":
			for _, c := range b.commands() {
				s.run(c)
				ran++
				if t.Failed() {
					return
				}
			}
		}
	}
	if ran < 20 {
		t.Errorf("only %d commands found in the guide: is the parser right?", ran)
	}
}
