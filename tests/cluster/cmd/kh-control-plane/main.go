// kh-control-plane is kube-apiserver and etcd in one binary, so that the
// test suite builds and caches one executable:
//
//	kh-control-plane up DIR [PARENT_PID]   start both on loopback (see up.go)
//	kh-control-plane down DIR              stop both
//	kh-control-plane version               the Kubernetes release built in
//	kh-control-plane etcd [etcd flags]
//	kh-control-plane kube-apiserver [kube-apiserver flags]
package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	_ "time/tzdata" // CronJob time zones, as kube-apiserver's own main has it

	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kh-control-plane up DIR [PARENT_PID] | down DIR | version | etcd … | kube-apiserver …")
		os.Exit(2)
	}
	component, args := os.Args[1], os.Args[2:]
	switch component {
	case "up":
		if len(args) < 1 {
			fmt.Fprintln(os.Stderr, "usage: kh-control-plane up DIR [PARENT_PID]")
			os.Exit(2)
		}
		parent := 0
		if len(args) > 1 {
			parent, _ = strconv.Atoi(args[1])
		}
		if err := up(args[0], parent); err != nil {
			fmt.Fprintf(os.Stderr, "kh-control-plane: %v\n", err)
			os.Exit(1)
		}
	case "down":
		if len(args) < 1 {
			fmt.Fprintln(os.Stderr, "usage: kh-control-plane down DIR")
			os.Exit(2)
		}
		down(args[0])
	case "watchdog":
		parent, _ := strconv.Atoi(args[1])
		watchdog(args[0], parent)
	case "version":
		fmt.Println(kubernetesVersion())
	case "etcd":
		// etcdmain reads os.Args itself.
		os.Args = append([]string{"etcd"}, args...)
		etcdmain.Main(os.Args)
	case "kube-apiserver":
		os.Args = append([]string{"kube-apiserver"}, args...)
		command := app.NewAPIServerCommand()
		command.SetArgs(args)
		os.Exit(cli.Run(command))
	default:
		fmt.Fprintf(os.Stderr, "kh-control-plane: unknown component %q (etcd or kube-apiserver)\n", component)
		os.Exit(2)
	}
}

// kubernetesVersion is the k8s.io/kubernetes module version this binary was built from.
func kubernetesVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/kubernetes" {
				return dep.Version
			}
		}
	}
	return "unknown"
}
