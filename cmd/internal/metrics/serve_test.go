package metrics

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"
)

// webConfig writes a self-signed certificate for 127.0.0.1, its key, and
// a web configuration serving TLS with basic auth for user:password. It
// returns the configuration's path and a pool trusting the certificate.
func webConfig(t *testing.T, user, password string) (string, *x509.CertPool) {
	t.Helper()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tend metrics test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", certPEM)
	write("key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	write("web.yml", []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"+
		"basic_auth_users:\n  "+user+": '"+string(hash)+"'\n"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return filepath.Join(dir, "web.yml"), pool
}

// Metrics served through a web configuration: TLS only, and only with the
// password; what comes back is still Prometheus text.
func TestServeWithWebConfig(t *testing.T) {
	path, pool := webConfig(t, "prom", "s3cret-pass")
	if err := ValidateWebConfig(path); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := Serve(ln, New(newFake()).Handler(), path, discardLogger())
	defer stop()
	url := "https://" + ln.Addr().String() + "/metrics"
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(url, user, pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		req.Header.Set("Accept", "text/plain; version=0.0.4")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(url, "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d %s", code, body)
	}
	if code, body := get(url, "prom", "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	if code, body := get("http://"+ln.Addr().String()+"/metrics", "prom", "s3cret-pass"); code == http.StatusOK {
		t.Fatalf("plain HTTP was served: %s", body)
	}
	code, body := get(url, "prom", "s3cret-pass")
	if code != http.StatusOK {
		t.Fatalf("with the password: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, body)
	}
	if v, ok := value(fams, "tend_worker_state", map[string]string{"worker": "api", "state": "Running"}); !ok || v != 1 {
		t.Fatalf("tend_worker_state of api: %v %v", v, ok)
	}
	// An untrusted certificate is refused by the client, as it should be.
	if _, err := http.Get(url); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}
}

func TestValidateWebConfigRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"plain password": "basic_auth_users:\n  prom: not-a-bcrypt-hash\n",
		"unknown key":    "tls_server_config:\n  certfile: x\n",
		"missing cert":   "tls_server_config:\n  cert_file: nope.pem\n  key_file: nope.key\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
		os.WriteFile(p, []byte(content), 0o600)
		if err := ValidateWebConfig(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBeyondLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9464": false, "127.1.2.3:9464": false, "[::1]:9464": false, "localhost:9464": false,
		":9464": true, "0.0.0.0:9464": true, "[::]:9464": true, "10.0.0.5:9464": true,
		"[fe80::1%eth0]:9464": true, "metrics.example:9464": true, "nonsense": true,
	} {
		if got := BeyondLoopback(addr); got != want {
			t.Errorf("BeyondLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
