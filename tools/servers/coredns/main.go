// CoreDNS v1.15.0 with only the plugins the single-node cluster's DNS needs (tests/cluster):
// the cluster.local zone from the Kubernetes API, answers cached and rotated, health and
// readiness for the pod's probes, errors and queries logged. No forward plugin: a name outside
// the cluster gets no answer from beyond it. Built by ../build.sh (CoreDNS's documented way to
// choose plugins: a main of one's own that sets the directives and imports their packages).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins in CoreDNS's own order (plugin.cfg), which is the order they handle a query.
var directives = []string{"ready", "health", "errors", "log", "loadbalance", "cache", "kubernetes"}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
