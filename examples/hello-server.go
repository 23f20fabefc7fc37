// hello-server.go: a Go HTTP server that hands off cleanly under handoff.
//
// Standard library only (Go 1.19 or later). It takes its listening socket by
// name from handoff (LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as systemd
// passes them), says READY=1 on NOTIFY_SOCKET once it accepts, and on
// SIGTERM (the program's stop_signal) stops accepting, finishes every
// connection it accepted and exits 0.
//
//	GET /               gen=G pid=PID worker=W hello from go
//	GET /slow?ms=N      the same after N milliseconds (at most 30000)
//
// A request body, if any, is read before the answer. Build it and run it
// from the top of the tree:
//
//	go build -o examples/hello-go examples/hello-server.go
//	handoff run -c examples/hello-go.ini
//
// The argument is the listener's name in LISTEN_FDNAMES (default: web).
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// inheritedListener is the socket passed under name, found as
// sd_listen_fds() finds it.
func inheritedListener(name string) (net.Listener, error) {
	count, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		count = 0
	}
	for fd := 3; fd < 3+count; fd++ {
		syscall.CloseOnExec(fd) // the sockets are not for our children
	}
	for i, n := range strings.Split(os.Getenv("LISTEN_FDNAMES"), ":") {
		if n == name && i < count {
			f := os.NewFile(uintptr(3+i), name)
			defer f.Close() // FileListener works on a copy
			return net.FileListener(f)
		}
	}
	return nil, fmt.Errorf("no listener named %q in LISTEN_FDNAMES: run me "+
		"under handoff (examples/hello-go.ini)", name)
}

// notify sends state to NOTIFY_SOCKET, if there is one: a path, or @name
// for an abstract socket (Go's net package reads the @ the same way).
func notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil,
		&net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}

// hello answers GET / and /slow?ms=N (and POST, whose body is read first).
func hello(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/slow" {
		http.NotFound(w, r)
		return
	}
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	if r.URL.Path == "/slow" {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if ms > 30000 {
			ms = 30000
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
	}
	fmt.Fprintf(w, "gen=%s pid=%d worker=%s hello from go\n",
		handoffVar("HANDOFF_GENERATION"), os.Getpid(),
		handoffVar("HANDOFF_WORKER"))
}

// handoffVar is the value of a variable handoff sets, or "-" without one.
func handoffVar(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return "-"
}

func main() {
	log.SetFlags(0)
	name := "web"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	ln, err := inheritedListener(name)
	if err != nil {
		log.Fatalf("hello-server.go: %v", err)
	}
	// A client silent for a minute is dropped.
	srv := &http.Server{Handler: http.HandlerFunc(hello),
		ReadTimeout: time.Minute, IdleTimeout: time.Minute}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	if err := notify("READY=1"); err != nil {
		log.Fatalf("hello-server.go: cannot say READY=1: %v", err)
	}
	log.Printf("serving %s", name)

	select {
	case <-stop:
	case err := <-served:
		log.Fatalf("hello-server.go: %v", err)
	}
	log.Print("stop signal: no longer accepting; finishing what was accepted")
	notify("STOPPING=1")
	// Closes our copy of the shared socket (never shutdown()), closes the
	// idle connections and waits for the others to finish their requests.
	if err := srv.Shutdown(context.Background()); err != nil {
		log.Fatalf("hello-server.go: %v", err)
	}
}
