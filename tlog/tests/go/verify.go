// Checks fiscus-tlog's output with Go's reference code (golang.org/x/mod/sumdb/note and
// sumdb/tlog, from Debian's golang-golang-x-mod-dev), and writes notes and proofs of its own for
// fiscus-tlog to check. Run by tlog/tests/go_interop.rs:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go run verify.go IN.json OUT.json
//
// IN.json is what fiscus-tlog made (see the Input type); OUT.json gets Go's own (Output). Any
// disagreement exits with status 1 and says what failed.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Input is what fiscus-tlog made.
type Input struct {
	Origin        string          `json:"origin"`
	VerifierKey   string          `json:"verifier_key"`
	Leaves        []string        `json:"leaves"` // base64 leaf data
	Checkpoints   []string        `json:"checkpoints"`
	Inclusion     []InclusionCase `json:"inclusion"`
	Consistency   []ConsistCase   `json:"consistency"`
	CosignerKey   string          `json:"cosigner_key"` // name+id+base64(0x04||pub)
	Cosigned      string          `json:"cosigned"`     // a checkpoint with a cosignature
	TlogProof     string          `json:"tlog_proof"`
	TlogProofLeaf int64           `json:"tlog_proof_leaf"`
}

type InclusionCase struct {
	Index int64    `json:"index"`
	Size  int64    `json:"size"`
	Proof []string `json:"proof"`
}

type ConsistCase struct {
	Old   int64    `json:"old"`
	New   int64    `json:"new"`
	Proof []string `json:"proof"`
}

// Output is what Go made for fiscus-tlog to check.
type Output struct {
	SignerKey   string          `json:"signer_key"`
	VerifierKey string          `json:"verifier_key"`
	Leaves      []string        `json:"leaves"`
	Checkpoint  string          `json:"checkpoint"`
	Inclusion   []InclusionCase `json:"inclusion"`
	Consistency []ConsistCase   `json:"consistency"`
	Roots       []string        `json:"roots"` // base64 root of sizes 1..len(leaves)
	Checked     int             `json:"checked"`
}

type hashes []tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(h)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = h[x]
	}
	return out, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go verify: "+format+"\n", args...)
	os.Exit(1)
}

func build(leaves [][]byte) hashes {
	var stored hashes
	for i, data := range leaves {
		more, err := tlog.StoredHashes(int64(i), data, stored)
		if err != nil {
			fail("StoredHashes: %v", err)
		}
		stored = append(stored, more...)
	}
	return stored
}

func parseProof(lines []string) []tlog.Hash {
	var out []tlog.Hash
	for _, line := range lines {
		h, err := tlog.ParseHash(line)
		if err != nil {
			fail("proof hash %q: %v", line, err)
		}
		out = append(out, h)
	}
	return out
}

// checkpoint parses a tlog-checkpoint body: origin, size, root, no extension lines.
func checkpoint(text string) (string, int64, tlog.Hash) {
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 3 || !strings.HasSuffix(text, "\n") {
		fail("checkpoint body is not three lines: %q", text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || strconv.FormatInt(size, 10) != lines[1] {
		fail("checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root %q", lines[2])
	}
	return lines[0], size, root
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: verify IN.json OUT.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var in Input
	if err := json.Unmarshal(raw, &in); err != nil {
		fail("input: %v", err)
	}
	checked := 0

	// The leaves, hashed and stored by Go's tlog.
	var leaves [][]byte
	for _, b := range in.Leaves {
		data, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			fail("leaf: %v", err)
		}
		leaves = append(leaves, data)
	}
	stored := build(leaves)

	verifier, err := note.NewVerifier(in.VerifierKey)
	if err != nil {
		fail("note.NewVerifier(%q): %v", in.VerifierKey, err)
	}
	roots := map[int64]tlog.Hash{}
	for _, text := range in.Checkpoints {
		n, err := note.Open([]byte(text), note.VerifierList(verifier))
		if err != nil {
			fail("note.Open of checkpoint: %v\n%s", err, text)
		}
		origin, size, root := checkpoint(n.Text)
		if origin != in.Origin || n.Sigs[0].Name != in.Origin {
			fail("origin %q, key %q, expected %q", origin, n.Sigs[0].Name, in.Origin)
		}
		want, err := tlog.TreeHash(size, stored)
		if err != nil {
			fail("TreeHash(%d): %v", size, err)
		}
		if want != root {
			fail("checkpoint of size %d has root %v, Go computes %v", size, root, want)
		}
		roots[size] = root
		checked++
	}

	for _, c := range in.Inclusion {
		root, ok := roots[c.Size]
		if !ok {
			fail("no checkpoint of size %d", c.Size)
		}
		proof := parseProof(c.Proof)
		if err := tlog.CheckRecord(proof, c.Size, root, c.Index, tlog.RecordHash(leaves[c.Index])); err != nil {
			fail("CheckRecord(index %d, size %d): %v", c.Index, c.Size, err)
		}
		goProof, err := tlog.ProveRecord(c.Size, c.Index, stored)
		if err != nil || fmt.Sprint(goProof) != fmt.Sprint(tlog.RecordProof(proof)) {
			fail("ProveRecord(%d, %d) differs: %v", c.Size, c.Index, err)
		}
		checked++
	}

	for _, c := range in.Consistency {
		oldRoot, ok1 := roots[c.Old]
		newRoot, ok2 := roots[c.New]
		if !ok1 || !ok2 {
			fail("no checkpoints of sizes %d and %d", c.Old, c.New)
		}
		proof := parseProof(c.Proof)
		if err := tlog.CheckTree(proof, c.New, newRoot, c.Old, oldRoot); err != nil {
			fail("CheckTree(%d -> %d): %v", c.Old, c.New, err)
		}
		goProof, err := tlog.ProveTree(c.New, c.Old, stored)
		if err != nil || fmt.Sprint(goProof) != fmt.Sprint(tlog.TreeProof(proof)) {
			fail("ProveTree(%d, %d) differs: %v", c.New, c.Old, err)
		}
		checked++
	}

	// The cosignature, checked by hand from c2sp.org/tlog-cosignature with Go's ed25519: Go's
	// note package knows only type 0x01 keys, so the 0x04 key is an unknown signer to it, and
	// note.Open must still accept the note on the log's signature.
	if in.Cosigned != "" {
		n, err := note.Open([]byte(in.Cosigned), note.VerifierList(verifier))
		if err != nil {
			fail("note.Open of cosigned checkpoint: %v", err)
		}
		if len(n.UnverifiedSigs) != 1 {
			fail("expected one cosignature, Go sees %d unverified signatures", len(n.UnverifiedSigs))
		}
		parts := strings.SplitN(in.CosignerKey, "+", 3)
		keyBytes, err := base64.StdEncoding.DecodeString(parts[2])
		if len(parts) != 3 || err != nil || len(keyBytes) != 33 || keyBytes[0] != 0x04 {
			fail("cosigner key %q", in.CosignerKey)
		}
		idSum := sha256.Sum256(append([]byte(parts[0]+"\n"), keyBytes...))
		id := binary.BigEndian.Uint32(idSum[:4])
		if fmt.Sprintf("%08x", id) != parts[1] {
			fail("cosigner key id %s, Go computes %08x", parts[1], id)
		}
		cosig := n.UnverifiedSigs[0]
		sig, _ := base64.StdEncoding.DecodeString(cosig.Base64)
		if cosig.Name != parts[0] || cosig.Hash != id || len(sig) != 4+8+64 {
			fail("cosignature line: name %q hash %08x, %d bytes", cosig.Name, cosig.Hash, len(sig))
		}
		timestamp := binary.BigEndian.Uint64(sig[4:12])
		msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", timestamp, n.Text)
		if !ed25519.Verify(ed25519.PublicKey(keyBytes[1:]), []byte(msg), sig[12:]) {
			fail("cosignature does not verify with Go's ed25519")
		}
		checked++
	}

	// The tlog-proof, parsed from c2sp.org/tlog-proof by hand; its checkpoint opened by Go.
	if in.TlogProof != "" {
		proofLines := strings.Split(in.TlogProof, "\n")
		if proofLines[0] != "c2sp.org/tlog-proof@v1" {
			fail("tlog-proof header %q", proofLines[0])
		}
		i := 1
		if strings.HasPrefix(proofLines[i], "extra ") {
			i++
		}
		index, err := strconv.ParseInt(strings.TrimPrefix(proofLines[i], "index "), 10, 64)
		if err != nil || index != in.TlogProofLeaf {
			fail("tlog-proof index line %q", proofLines[i])
		}
		i++
		var hashLines []string
		for ; proofLines[i] != ""; i++ {
			hashLines = append(hashLines, proofLines[i])
		}
		cp, err := note.Open([]byte(strings.Join(proofLines[i+1:], "\n")), note.VerifierList(verifier))
		if err != nil {
			fail("tlog-proof checkpoint: %v", err)
		}
		_, size, root := checkpoint(cp.Text)
		if err := tlog.CheckRecord(parseProof(hashLines), size, root, index, tlog.RecordHash(leaves[index])); err != nil {
			fail("tlog-proof inclusion: %v", err)
		}
		checked++
	}

	// Go's turn: a key from a fixed seed, a tree of its own, a signed checkpoint and proofs.
	seed := sha256.Sum256([]byte("fiscus go interop"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	vkey, err := note.NewEd25519VerifierKey("go.example/log", priv.Public().(ed25519.PublicKey))
	if err != nil {
		fail("%v", err)
	}
	h := sha256.Sum256(append([]byte("go.example/log\n\x01"), priv.Public().(ed25519.PublicKey)...))
	skey := fmt.Sprintf("PRIVATE+KEY+go.example/log+%08x+%s", binary.BigEndian.Uint32(h[:4]),
		base64.StdEncoding.EncodeToString(append([]byte{1}, seed[:]...)))
	signer, err := note.NewSigner(skey)
	if err != nil {
		fail("note.NewSigner: %v", err)
	}
	out := Output{SignerKey: skey, VerifierKey: vkey}
	var goLeaves [][]byte
	for i := 0; i < 21; i++ {
		data := []byte(fmt.Sprintf("go leaf %d", i))
		goLeaves = append(goLeaves, data)
		out.Leaves = append(out.Leaves, base64.StdEncoding.EncodeToString(data))
	}
	goStored := build(goLeaves)
	for size := int64(1); size <= 21; size++ {
		root, err := tlog.TreeHash(size, goStored)
		if err != nil {
			fail("%v", err)
		}
		out.Roots = append(out.Roots, root.String())
	}
	root, _ := tlog.TreeHash(21, goStored)
	signed, err := note.Sign(&note.Note{Text: fmt.Sprintf("go.example/log\n21\n%s\n", root)}, signer)
	if err != nil {
		fail("note.Sign: %v", err)
	}
	out.Checkpoint = string(signed)
	for _, index := range []int64{0, 7, 20} {
		p, err := tlog.ProveRecord(21, index, goStored)
		if err != nil {
			fail("%v", err)
		}
		c := InclusionCase{Index: index, Size: 21}
		for _, x := range p {
			c.Proof = append(c.Proof, x.String())
		}
		out.Inclusion = append(out.Inclusion, c)
	}
	for _, old := range []int64{1, 8, 13, 21} {
		p, err := tlog.ProveTree(21, old, goStored)
		if err != nil {
			fail("%v", err)
		}
		c := ConsistCase{Old: old, New: 21}
		for _, x := range p {
			c.Proof = append(c.Proof, x.String())
		}
		out.Consistency = append(out.Consistency, c)
	}
	out.Checked = checked

	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fail("%v", err)
	}
	if err := os.WriteFile(os.Args[2], buf.Bytes(), 0o644); err != nil {
		fail("%v", err)
	}
	fmt.Printf("go verify: %d checks passed\n", checked)
}
