// Command tend-demo is a small misbehaving worker for tend's example
// configuration: a web server with a health endpoint, a program that
// crashes, one that leaks memory, one that ignores SIGTERM, one that ticks.
// It exists so `make run` shows tend's features on any machine.
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tend-demo http ADDR | crash AFTER CODE | leak MIB_PER_SEC | stubborn | ticker")
		os.Exit(2)
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "http":
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello from tend-demo") })
		fmt.Println("listening on", args[0])
		srv := &http.Server{Addr: args[0], Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		if err := srv.ListenAndServe(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case "crash":
		d, _ := time.ParseDuration(args[0])
		code, _ := strconv.Atoi(args[1])
		fmt.Println("starting; will crash in", d)
		time.Sleep(d)
		fmt.Fprintln(os.Stderr, "fatal: simulated crash")
		os.Exit(code)
	case "leak":
		rate, _ := strconv.Atoi(args[0])
		var keep [][]byte
		for i := 0; ; i++ {
			b := make([]byte, rate<<20)
			for j := range b {
				b[j] = byte(j)
			}
			keep = append(keep, b)
			fmt.Printf("holding %d MiB\n", len(keep)*rate)
			time.Sleep(time.Second)
		}
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		select {}
	case "ticker":
		for i := 0; ; i++ {
			fmt.Println("tick", i)
			time.Sleep(time.Second)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
