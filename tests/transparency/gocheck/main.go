// Command gocheck verifies a hostgate transparency log with an independent implementation:
// Go's golang.org/x/mod/sumdb/note (signed notes) and sumdb/tlog (RFC 6962 proofs, tiles).
//
//	gocheck <gateway base URL> <log vkey> [<business>/<revision> ...]
//	gocheck audit <checkpoints file> <vkey> <trail file> ...
//
// It opens /log/checkpoint with the vkey, reads every leaf through tlog's TileHashReader
// (which checks each tile against the checkpoint's root), proves and checks every record,
// proves the log consistent from size 1 to now, and checks the gateway's own inclusion proof
// of each named revision. Exit 0 and "ok" only if all of that holds.
//
// In audit mode it opens every note of an audit trail's checkpoints file with the vkey,
// hashes the trail's record lines as tlog records, and checks each checkpoint's root and
// an inclusion proof of every record in the newest checkpoint.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var base string

func get(path string) []byte {
	resp, err := http.Get(base + path)
	if err != nil {
		fail("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		fail("GET %s: status %d %v", path, resp.StatusCode, err)
	}
	return data
}

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

// tiles reads C2SP tlog-tiles paths: x/mod's paths carry a height element ("tile/8/...") the C2SP layout dropped.
type tiles struct{}

func (tiles) Height() int { return 8 }

func (tiles) ReadTiles(ts []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, t := range ts {
		out[i] = get("/log/" + strings.Replace(t.Path(), "tile/8/", "tile/", 1))
	}
	return out, nil
}

func (tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func openCheckpoint(text []byte, verifier note.Verifier) (tlog.Tree, string) {
	n, err := note.Open(text, note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		fail("checkpoint body has %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		fail("checkpoint root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], raw)
	return tlog.Tree{N: size, Hash: root}, lines[0]
}

func auditMain(args []string) {
	if len(args) < 3 {
		fail("usage: gocheck audit <checkpoints file> <vkey> <trail file> ...")
	}
	verifier, err := note.NewVerifier(args[1])
	if err != nil {
		fail("vkey: %v", err)
	}
	var stored []tlog.Hash
	var records [][]byte
	for _, path := range args[2:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fail("%v", err)
		}
		for _, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
			hashes, err := tlog.StoredHashes(int64(len(records)), line, tlog.HashReaderFunc(
				func(indexes []int64) ([]tlog.Hash, error) {
					out := make([]tlog.Hash, len(indexes))
					for i, index := range indexes {
						out[i] = stored[index]
					}
					return out, nil
				}))
			if err != nil {
				fail("stored hashes: %v", err)
			}
			stored = append(stored, hashes...)
			records = append(records, line)
		}
	}
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, index := range indexes {
			out[i] = stored[index]
		}
		return out, nil
	})
	text, err := os.ReadFile(args[0])
	if err != nil {
		fail("%v", err)
	}
	var last tlog.Tree
	count := 0
	// Notes follow one another: each ends at its signature line, the next starts right after.
	for _, chunk := range splitNotes(string(text)) {
		tree, origin := openCheckpoint([]byte(chunk), verifier)
		if !strings.HasPrefix(origin, "hostgate.audit/") {
			fail("origin %q", origin)
		}
		if tree.N > int64(len(records)) {
			fail("checkpoint of %d, trail has %d", tree.N, len(records))
		}
		hash, err := tlog.TreeHash(tree.N, reader)
		if err != nil || hash != tree.Hash {
			fail("checkpoint of %d: root %s, trail gives %s (%v)", tree.N, tree.Hash, hash, err)
		}
		last = tree
		count++
	}
	for i := int64(0); i < last.N; i++ {
		proof, err := tlog.ProveRecord(last.N, i, reader)
		if err != nil {
			fail("prove record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, last.N, last.Hash, i, tlog.RecordHash(records[i])); err != nil {
			fail("record %d: %v", i, err)
		}
	}
	fmt.Printf("ok: %d checkpoints, all %d records proved\n", count, last.N)
}

func splitNotes(text string) []string {
	var notes []string
	current := ""
	for _, line := range strings.SplitAfter(text, "\n") {
		current += line
		if strings.HasPrefix(line, "\u2014 ") {
			notes = append(notes, current)
			current = ""
		}
	}
	return notes
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "audit" {
		auditMain(os.Args[2:])
		return
	}
	if len(os.Args) < 3 {
		fail("usage: gocheck <base URL> <vkey> [business/revision ...]")
	}
	base = strings.TrimRight(os.Args[1], "/")
	verifier, err := note.NewVerifier(os.Args[2])
	if err != nil {
		fail("vkey: %v", err)
	}
	tree, origin := openCheckpoint(get("/log/checkpoint"), verifier)
	reader := tlog.TileHashReader(tree, tiles{})

	var entries [][]byte
	for start := int64(0); start < tree.N; start += 256 {
		width := tree.N - start
		path := fmt.Sprintf("/log/tile/entries/%s", indexPath(start/256))
		if width < 256 {
			path += fmt.Sprintf(".p/%d", width)
		}
		bundle := get(path)
		for len(bundle) > 0 {
			length := int(binary.BigEndian.Uint16(bundle))
			entries = append(entries, bundle[2:2+length])
			bundle = bundle[2+length:]
		}
	}
	if int64(len(entries)) != tree.N {
		fail("%d entries for a tree of %d", len(entries), tree.N)
	}
	for i, entry := range entries {
		proof, err := tlog.ProveRecord(tree.N, int64(i), reader)
		if err != nil {
			fail("prove record %d: %v", i, err)
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, int64(i), tlog.RecordHash(entry)); err != nil {
			fail("record %d: %v", i, err)
		}
	}
	if tree.N > 1 {
		first, err := tlog.TreeHash(1, reader)
		if err != nil {
			fail("tree hash at 1: %v", err)
		}
		proof, err := tlog.ProveTree(tree.N, 1, reader)
		if err != nil {
			fail("prove tree: %v", err)
		}
		if err := tlog.CheckTree(proof, tree.N, tree.Hash, 1, first); err != nil {
			fail("consistency 1..%d: %v", tree.N, err)
		}
	}
	for _, named := range os.Args[3:] {
		var given struct {
			LeafIndex      int64    `json:"leaf_index"`
			Checkpoint     string   `json:"checkpoint"`
			InclusionProof []string `json:"inclusion_proof"`
		}
		business := strings.SplitN(named, "/", 2)[0]
		if err := json.Unmarshal(get("/disclosures/"+named+"/proof"), &given); err != nil {
			fail("proof of %s: %v", named, err)
		}
		at, _ := openCheckpoint([]byte(given.Checkpoint), verifier)
		var proof tlog.RecordProof
		for _, text := range given.InclusionProof {
			raw, err := base64.StdEncoding.DecodeString(text)
			if err != nil || len(raw) != tlog.HashSize {
				fail("proof hash of %s: %v", named, err)
			}
			var h tlog.Hash
			copy(h[:], raw)
			proof = append(proof, h)
		}
		body := entries[given.LeafIndex]
		if !strings.Contains(string(body), `"business_id":"`+business+`"`) {
			fail("leaf %d is not %s", given.LeafIndex, business)
		}
		if err := tlog.CheckRecord(proof, at.N, at.Hash, given.LeafIndex, tlog.RecordHash(body)); err != nil {
			fail("gateway's proof of %s: %v", named, err)
		}
	}
	fmt.Printf("ok %s: %d leaves, root %s, %d gateway proofs\n", origin, tree.N, tree.Hash, len(os.Args)-3)
}

func indexPath(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}
