package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secretbroker/secretbroker/internal/daemontest"
	pb "github.com/secretbroker/secretbroker/proto/secretbroker/v1"
	"github.com/secretbroker/secretbroker/providers/aws/awstest"
	"github.com/secretbroker/secretbroker/providers/azure/azuretest"
	"github.com/secretbroker/secretbroker/providers/cyberark/cyberarktest"
)

// TestDaemonAllFourVaults starts secretbrokerd as a process with a
// configuration naming all four enterprise vaults, each pointed at its test
// server on loopback (a real Vault server in this process; wire-level
// servers for AWS, Azure and CyberArk that check each request's
// authentication), and fetches an auto-login, a user-defined and a system
// credential from each through gRPC. The configuration has one auto-login
// source, so the daemon is started once per vault, with autologin pointing
// at it.
func TestDaemonAllFourVaults(t *testing.T) {
	bin := daemontest.Build(t)
	dir := t.TempDir()
	const user = `ABCD\user123`
	secret := func(kind, scope string) map[string]string {
		return map[string]string{"username": kind + "-" + scope, "password": kind + "-" + scope + "-pw", "domain": "ABCD"}
	}

	aws := awstest.NewServer(t, awstest.Options{})
	for name, scope := range map[string]string{"rpa/accounting_pdf": "system", "rpa/accounting_pdf_ABCD--user123": "user", "rpa/autologin_ABCD--user123": "autologin"} {
		aws.Seed(name, jsonObject(t, secret("aws", scope)))
	}

	az := azuretest.NewServer(t, azuretest.Options{})
	for name, scope := range map[string]string{"accounting-5f-cv1": "system", "accounting-5f-cv1-5f-ABCD--user123": "user", "autologin-5f-ABCD--user123": "autologin"} {
		az.Seed(name, jsonObject(t, secret("azure", scope)), "application/json", nil, true, time.Time{})
	}

	ark, err := cyberarktest.New(cyberarktest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ark.Close)
	ark.Seed("finance", "glaccess", cyberarktest.PropertiesFromAttributes(secret("cyberark", "system")))
	ark.Seed("finance", "glaccess_ABCD--user123", cyberarktest.PropertiesFromAttributes(secret("cyberark", "user")))
	ark.Seed("RPA-AutoLogin", "autologin_ABCD--user123", cyberarktest.PropertiesFromAttributes(secret("cyberark", "autologin")))

	vault := startVault(t)
	for name, scope := range map[string]string{"accounting-5f-cred01": "system", "accounting-5f-cred01-5f-ABCD--user123": "user", "autologin-5f-ABCD--user123": "autologin"} {
		vault.put(t, "rpa/"+name, secret("hashicorp", scope))
	}
	tokenFile := filepath.Join(dir, "vault-token")
	if err := os.WriteFile(tokenFile, []byte(vault.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	providers := fmt.Sprintf(`providers:
  aws-prod:
    aws:
      region: %s
      endpoint: %s
      name_path: rpa/
      max_attempts: 2
  kv:
    azure:
      vault_url: %s
      authority_host: %s
      disable_instance_discovery: true
      tls: {ca_file: %s}
      auth:
        tenant_id: %s
        client_id: %s
        certificate_file: %s
  vault:
    hashicorp:
      address: %s
      mount: secret
      path: rpa
      auth:
        method: token
        token_file: %s
  ark:
    cyberark:
      url: %s
      app_id: %s
      tls:
        client_cert_file: %s
        client_key_file: %s
        ca_file: %s
lockers:
  aws-finance: {provider: aws-prod, prefix: accounting}
  azure-finance: {provider: kv, prefix: accounting}
  vault-finance: {provider: vault, prefix: accounting}
  ark-finance: {provider: ark, safe: finance, username_template: '$domain$\$username$'}
`, aws.Region(), aws.URL(),
		az.LoopbackVaultURL(), az.AuthorityHost(), az.CAFile, az.TenantID, az.ClientID, az.CertificatePEMFile,
		vault.addr, tokenFile,
		ark.URL(), ark.AppID(), ark.ClientCertFile(), ark.ClientKeyFile(), ark.CAFile())

	cases := []struct {
		kind, provider, safe, locker, credential string
	}{
		{"aws", "aws-prod", "", "aws-finance", "pdf"},
		{"azure", "kv", "", "azure-finance", "cv1"},
		{"hashicorp", "vault", "", "vault-finance", "cred01"},
		{"cyberark", "ark", "RPA-AutoLogin", "ark-finance", "glaccess"},
	}
	for _, c := range cases {
		t.Run(c.kind, func(t *testing.T) {
			autologin := "autologin:\n  provider: " + c.provider + "\n"
			if c.safe != "" {
				autologin += "  safe: " + c.safe + "\n"
			}
			cfg := filepath.Join(dir, c.kind+".yaml")
			if err := os.WriteFile(cfg, []byte(providers+autologin), 0o600); err != nil {
				t.Fatal(err)
			}
			d := daemontest.Start(t, bin, aws.Env(), "-config", cfg, "-data-dir", dir, "-listen", "127.0.0.1:0", "-admin-listen", "off")
			client := pb.NewSecretBrokerClient(daemontest.DialToken(t, d.Addr, daemontest.AdminToken(t, dir)))
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			al, err := client.GetAutoLoginCredential(ctx, &pb.GetAutoLoginCredentialRequest{Username: user})
			if err != nil {
				t.Fatalf("auto-login: %v\n%s", err, d.Logs())
			}
			if got := al.Credential.Attributes["password"]; got != c.kind+"-autologin-pw" {
				t.Errorf("auto-login password %q", got)
			}
			if al.Source.Provider != c.provider {
				t.Errorf("auto-login from %q", al.Source.Provider)
			}

			u, err := client.GetCredential(ctx, &pb.GetCredentialRequest{Locker: c.locker, Credential: c.credential, Username: user})
			if err != nil {
				t.Fatalf("user-defined: %v\n%s", err, d.Logs())
			}
			if u.Scope != pb.Scope_SCOPE_USER || u.Credential.Attributes["password"] != c.kind+"-user-pw" {
				t.Errorf("user-defined: scope %v password %q", u.Scope, u.Credential.Attributes["password"])
			}

			s, err := client.GetCredential(ctx, &pb.GetCredentialRequest{Locker: c.locker, Credential: c.credential, Username: "ABCD\\nobody"})
			if err != nil {
				t.Fatalf("system: %v\n%s", err, d.Logs())
			}
			if s.Scope != pb.Scope_SCOPE_SYSTEM || s.Credential.Attributes["password"] != c.kind+"-system-pw" {
				t.Errorf("system: scope %v password %q", s.Scope, s.Credential.Attributes["password"])
			}
			if c.kind == "cyberark" && s.LoginName != `ABCD\cyberark-system` {
				t.Errorf("CyberArk login name %q, want ABCD\\cyberark-system", s.LoginName)
			}
			d.Stop(t)
			if strings.Contains(d.Logs(), c.kind+"-user-pw") || strings.Contains(d.Logs(), vault.token) {
				t.Errorf("the daemon's log carries a secret:\n%s", d.Logs())
			}
		})
	}
	if calls := ark.Reasons(); len(calls) == 0 {
		t.Error("CyberArk saw no Reason parameter")
	}
}

func jsonObject(t *testing.T, m map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range m {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, v)
	}
	b.WriteString("}")
	return b.String()
}
