// Command etcd is a single-member etcd for the tests' kube-apiserver: go.etcd.io/etcd/server/v3
// embedded, listening where the flags say (127.0.0.1 in the tests), its data in --data-dir.
// It prints "etcd ready" once it serves clients and exits cleanly on SIGTERM or SIGINT.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func mustURL(name, raw string) url.URL {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		log.Fatalf("--%s: not a URL: %q", name, raw)
	}
	return *u
}

func main() {
	dataDir := flag.String("data-dir", "", "data directory (required)")
	name := flag.String("name", "default", "member name")
	clientURL := flag.String("listen-client-urls", "http://127.0.0.1:2379", "client URL (one)")
	peerURL := flag.String("listen-peer-urls", "http://127.0.0.1:2380", "peer URL (one)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	noFsync := flag.Bool("unsafe-no-fsync", false, "skip fsync (tests only: loses data on a crash)")
	quota := flag.Int64("quota-backend-bytes", 0, "backend size quota (0: etcd's default)")
	flag.Parse()
	if *dataDir == "" {
		log.Fatal("--data-dir is required")
	}

	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	client, peer := mustURL("listen-client-urls", *clientURL), mustURL("listen-peer-urls", *peerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = *logLevel
	cfg.LogOutputs = []string{"stderr"}
	cfg.UnsafeNoFsync = *noFsync
	cfg.QuotaBackendBytes = *quota

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		log.Fatalf("etcd: %v", err)
	}
	defer e.Close()

	select {
	case <-e.Server.ReadyNotify():
		fmt.Printf("etcd ready: %s\n", client.String())
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		log.Fatal("etcd: not ready after 60s")
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-signals:
		fmt.Printf("etcd: %v, stopping\n", s)
	case err := <-e.Err():
		log.Fatalf("etcd: %v", err)
	}
}
