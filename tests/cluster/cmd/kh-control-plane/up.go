package main

// `up DIR` and `down DIR`: a one-node control plane for tests, everything on
// loopback, everything kept in DIR:
//
//	DIR/pki/            CA, serving certificate, service-account signing key
//	DIR/tokens.csv      bearer tokens (admin, admin-NN, user-NN, kh-scan, kh-apply, kh-none)
//	DIR/audit-policy.yaml, DIR/audit.log   every request, Secrets at Metadata only
//	DIR/etcd/           etcd's data
//	DIR/*.pid, *.log    the two processes and their output
//	DIR/kubeconfig      admin (system:masters)
//	DIR/env             SERVER=..., ADMIN_TOKEN=... for scripts

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The number of interchangeable identities the token file holds, so that
// concurrent tests can tell their own requests apart in the audit log.
const identities = 64

func up(dir string, parentPID int) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if pidAlive(readPID(filepath.Join(dir, "kube-apiserver.pid"))) {
		return fmt.Errorf("%s: a control plane is already running there (run stop first)", dir)
	}
	for _, sub := range []string{"pki", "etcd"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	if err := writePKI(filepath.Join(dir, "pki")); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	admin, err := writeTokens(filepath.Join(dir, "tokens.csv"))
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return fmt.Errorf("free ports: %w", err)
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]
	self, err := os.Executable()
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := spawn(self, dir, "etcd", []string{
		"--name=kh", "--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=kh=" + peerURL,
		"--listen-metrics-urls=", // no metrics listener: one port fewer to find
		"--unsafe-no-fsync",      // test data: durability buys nothing, fsync costs seconds
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	}); err != nil {
		return err
	}
	if err := waitHTTP(etcdURL+"/health", nil, filepath.Join(dir, "etcd.pid"), 60*time.Second); err != nil {
		down(dir)
		return fmt.Errorf("etcd did not become healthy (see %s): %w", filepath.Join(dir, "etcd.log"), err)
	}
	pki := func(name string) string { return filepath.Join(dir, "pki", name) }
	if err := spawn(self, dir, "kube-apiserver", apiserverFlags(dir, etcdURL, apiPort, pki)); err != nil {
		down(dir)
		return err
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := waitHTTP(server+"/readyz", &admin, filepath.Join(dir, "kube-apiserver.pid"), 180*time.Second); err != nil {
		down(dir)
		return fmt.Errorf("kube-apiserver did not become ready: %w; %s", err, lastError(filepath.Join(dir, "kube-apiserver.log")))
	}
	if err := writeKubeconfig(filepath.Join(dir, "kubeconfig"), server, pki("ca.crt"), admin); err != nil {
		down(dir)
		return err
	}
	env := fmt.Sprintf("SERVER=%s\nADMIN_TOKEN=%s\nCA=%s\nETCD=%s\nVERSION=%s\n", server, admin, pki("ca.crt"), etcdURL, kubernetesVersion())
	if err := os.WriteFile(filepath.Join(dir, "env"), []byte(env), 0o600); err != nil {
		down(dir)
		return err
	}
	if parentPID > 0 {
		// A watchdog that stops the control plane when the process that asked
		// for it ends, so an interrupted test run leaves nothing behind.
		cmd := exec.Command(self, "watchdog", dir, strconv.Itoa(parentPID))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			down(dir)
			return err
		}
		_ = cmd.Process.Release()
	}
	fmt.Println(server)
	return nil
}

func apiserverFlags(dir, etcdURL string, port int, pki func(string) string) []string {
	return []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// No endpoint for the kubernetes Service: the reconciler refuses a
		// loopback address, and nothing in the tests dials the Service.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + pki("serving.crt"),
		"--tls-private-key-file=" + pki("serving.key"),
		"--client-ca-file=" + pki("ca.crt"),
		"--token-auth-file=" + filepath.Join(dir, "tokens.csv"),
		"--anonymous-auth=false",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=" + strings.Join(admissionPlugins, ","),
		"--allow-privileged=true", // so that privileged pods reach Pod Security admission
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.pub"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-account-lookup=true",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--audit-policy-file=" + filepath.Join(dir, "audit-policy.yaml"),
		"--audit-log-path=" + filepath.Join(dir, "audit.log"),
		"--audit-log-format=json",
		"--audit-log-mode=blocking", // an event is in the file when the response is sent
		"--profiling=false",
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--storage-media-type=application/vnd.kubernetes.protobuf",
		"--v=0",
	}
}

// The admission plugins a kubeadm cluster enables (the defaults of this
// release plus NodeRestriction, which kubeadm adds).
var admissionPlugins = []string{
	"NamespaceLifecycle", "LimitRanger", "ServiceAccount", "TaintNodesByCondition",
	"PodSecurity", "Priority", "DefaultTolerationSeconds", "DefaultStorageClass",
	"StorageObjectInUseProtection", "PersistentVolumeClaimResize", "RuntimeClass",
	"CertificateApproval", "CertificateSigning", "ClusterTrustBundleAttest",
	"CertificateSubjectRestriction", "DefaultIngressClass", "NodeRestriction",
	"MutatingAdmissionPolicy", "MutatingAdmissionWebhook", "ValidatingAdmissionPolicy",
	"ValidatingAdmissionWebhook", "ResourceQuota",
}

// Every request is recorded; Secrets, tokens and reviews only as metadata,
// so no credential is ever written to the log.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: [secrets, serviceaccounts/token]
      - group: authentication.k8s.io
        resources: [tokenreviews]
  - level: Request
`

func spawn(self, dir, component string, args []string) error {
	logf, err := os.OpenFile(filepath.Join(dir, component+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(self, append([]string{component}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this command
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", component, err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	return os.WriteFile(filepath.Join(dir, component+".pid"), []byte(strconv.Itoa(pid)), 0o600)
}

// down stops kube-apiserver, then etcd; it waits until both are gone.
func down(dir string) {
	for _, component := range []string{"kube-apiserver", "etcd"} {
		pidFile := filepath.Join(dir, component+".pid")
		pid := readPID(pidFile)
		if pidAlive(pid) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(15 * time.Second)
			for pidAlive(pid) && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if pidAlive(pid) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				for pidAlive(pid) {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
		_ = os.Remove(pidFile)
	}
}

func watchdog(dir string, parent int) {
	for pidAlive(parent) && pidAlive(readPID(filepath.Join(dir, "kube-apiserver.pid"))) {
		time.Sleep(500 * time.Millisecond)
	}
	down(dir)
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	// A zombie (exited, not yet reaped) counts as gone.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}

func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitHTTP polls url until it answers 200, the process in pidFile ends, or
// the timeout passes.
func waitHTTP(url string, token *string, pidFile string, timeout time.Duration) error {
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // readiness only
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := errors.New("no answer")
	for ctx.Err() == nil {
		if !pidAlive(readPID(pidFile)) {
			return fmt.Errorf("the process exited; last: %v", last)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if token != nil {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Errorf("%s answered %s", url, resp.Status)
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// writeTokens writes the static token file and returns the admin token.
// Columns: token,user,uid,"groups".
func writeTokens(path string) (string, error) {
	var b strings.Builder
	add := func(user, groups string) (string, error) {
		t, err := randomToken()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s,%s,%s,\"%s\"\n", t, user, user, groups)
		return t, nil
	}
	admin, err := add("admin", "system:masters")
	if err != nil {
		return "", err
	}
	for i := range identities {
		if _, err := add(fmt.Sprintf("admin-%02d", i), "system:masters"); err != nil {
			return "", err
		}
		if _, err := add(fmt.Sprintf("user-%02d", i), ""); err != nil {
			return "", err
		}
	}
	for _, u := range []string{"kh-scan", "kh-apply", "kh-none"} {
		if _, err := add(u, ""); err != nil {
			return "", err
		}
	}
	return admin, os.WriteFile(path, []byte(b.String()), 0o600)
}

func writeKubeconfig(path, server, ca, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
  - name: kh-test
    cluster:
      server: %s
      certificate-authority: %s
users:
  - name: admin
    user:
      token: %s
contexts:
  - name: kh-test
    context:
      cluster: kh-test
      user: admin
current-context: kh-test
`, server, ca, token)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

func writePKI(dir string) error {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kubeharden-test-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	files := map[string]*pem.Block{
		"ca.crt":      {Type: "CERTIFICATE", Bytes: caDER},
		"serving.crt": {Type: "CERTIFICATE", Bytes: srvDER},
		"serving.key": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(srvKey)},
		"sa.key":      {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)},
		"sa.pub":      {Type: "PUBLIC KEY", Bytes: saPub},
	}
	for name, block := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(block), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// lastError is the last error line of a component's log, for a one-line failure.
func lastError(log string) string {
	b, err := os.ReadFile(log)
	if err != nil {
		return "no log at " + log
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "E") || strings.Contains(lines[i], "error") {
			return "the log (" + log + ") ends with: " + strings.TrimSpace(lines[i])
		}
	}
	return "see " + log
}
