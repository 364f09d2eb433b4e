package agent

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"
)

// Per-instance keys and identities (docs/AGENT.md, "Keys, identities and
// TLS").
//
// The control plane holds one master key (the Secrets Manager secret); an
// agent holds only the key of the instance it runs on:
//
//	key(instance) = HMAC-SHA256(master, "shadowscale-agent-key-v2\n" || instance id)
//
// The agent's TLS key pair is derived from that key, so the plane, which
// can derive every agent's key, knows every agent's certificate pin without
// being told, and nobody but the agent and the plane can present it:
//
//	ed25519 seed = HMAC-SHA256(key(instance), "shadowscale-agent-tls-v2")
//	pin          = SHA-256 of the certificate's SubjectPublicKeyInfo (DER)
const (
	// KeyBytes is the length of a per-instance key.
	KeyBytes  = sha256.Size
	keyLabel  = "shadowscale-agent-key-v2\n"
	tlsLabel  = "shadowscale-agent-tls-v2"
	keyFileV2 = "shadowscale-agent-keys v2"
)

// instanceIDRE is what an identity may be named: an EC2 instance id, or
// any other lowercase DNS label (the name goes in the TLS server name).
var instanceIDRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// CheckInstanceID reports whether id can name an agent identity: a
// lowercase DNS label (letters, digits, hyphens; 1 to 63), as EC2 instance
// ids are.
func CheckInstanceID(id string) error {
	if !instanceIDRE.MatchString(id) {
		return fmt.Errorf("instance id %q is not a lowercase DNS label (a-z, 0-9, '-', 1 to 63)", id)
	}
	return nil
}

// DeriveKey returns the per-instance key of an agent from the master key.
func DeriveKey(master []byte, instanceID string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(keyLabel))
	m.Write([]byte(instanceID))
	return m.Sum(nil)
}

// Identity is an instance an agent answers for: its id and its key.
type Identity struct {
	InstanceID string
	Key        []byte
}

// DeriveIdentity is the identity of an instance, its key derived from the
// master.
func DeriveIdentity(master []byte, instanceID string) Identity {
	return Identity{InstanceID: instanceID, Key: DeriveKey(master, instanceID)}
}

// Check reports whether the identity is usable.
func (id Identity) Check() error {
	if err := CheckInstanceID(id.InstanceID); err != nil {
		return err
	}
	if len(id.Key) != KeyBytes {
		return fmt.Errorf("the key of %s is %d bytes, want %d", id.InstanceID, len(id.Key), KeyBytes)
	}
	return nil
}

// tlsKey is the identity's TLS private key, derived from its key.
func tlsKey(key []byte) ed25519.PrivateKey {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tlsLabel))
	return ed25519.NewKeyFromSeed(m.Sum(nil))
}

// Pin is the SHA-256 of a certificate's SubjectPublicKeyInfo.
type Pin [sha256.Size]byte

func (p Pin) String() string { return hex.EncodeToString(p[:]) }

// pinOf returns the pin of a certificate's public key.
func pinOf(cert *x509.Certificate) Pin { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// Pin is the pin of the identity's certificate.
func (id Identity) Pin() Pin {
	der, err := x509.MarshalPKIXPublicKey(tlsKey(id.Key).Public())
	if err != nil { // an ed25519 public key always marshals
		panic(fmt.Sprintf("marshaling an ed25519 public key: %v", err))
	}
	return sha256.Sum256(der)
}

// Certificate returns a self-signed certificate of the identity's derived
// key pair, valid from an hour before now for ten years (a client checks
// the pin, not the validity or a chain), named after the instance.
func (id Identity) Certificate(now time.Time) (tls.Certificate, error) {
	if err := id.Check(); err != nil {
		return tls.Certificate{}, err
	}
	return selfSigned(tlsKey(id.Key), id.InstanceID, now)
}

func selfSigned(key ed25519.PrivateKey, name string, now time.Time) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("drawing a serial number: %w", err)
	}
	tpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"shadowscale agent"}},
		DNSNames:              []string{name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating the certificate of %s: %w", name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parsing the certificate of %s: %w", name, err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// Key files.
//
// An agent started with its keys (--key-file) reads them from a file of
// this form (the enrolled agent keeps its key in the same form in its data
// dir):
//
//	shadowscale-agent-keys v2
//	<instance id> <base64 key>
//	...
//
// one identity a line (normally one: the instance the agent runs on),
// blank lines and lines starting with '#' ignored.

// ParseKeyFile reads a key file.
func ParseKeyFile(b []byte) ([]Identity, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	var out []Identity
	seen := map[string]bool{}
	header := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !header {
			if line != keyFileV2 {
				return nil, fmt.Errorf("key file line %d: want the header %q (the key of one instance, not the master key)", n, keyFileV2)
			}
			header = true
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("key file line %d: want \"<instance id> <base64 key>\"", n)
		}
		key, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil {
			return nil, fmt.Errorf("key file line %d: the key is not base64", n)
		}
		id := Identity{InstanceID: fields[0], Key: key}
		if err := id.Check(); err != nil {
			return nil, fmt.Errorf("key file line %d: %w", n, err)
		}
		if seen[id.InstanceID] {
			return nil, fmt.Errorf("key file line %d: %s named twice", n, id.InstanceID)
		}
		seen[id.InstanceID] = true
		out = append(out, id)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the key file holds no identity")
	}
	return out, nil
}

// FormatKeyFile writes identities in the key file format.
func FormatKeyFile(ids ...Identity) []byte {
	var b bytes.Buffer
	b.WriteString(keyFileV2 + "\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %s\n", id.InstanceID, base64.StdEncoding.EncodeToString(id.Key))
	}
	return b.Bytes()
}
