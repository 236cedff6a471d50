// Command tlogcheck verifies an IAN node's per-goal transparency log from
// the outside, using only Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog (unmodified) for the note signature and all
// Merkle-tree cryptography, plus the standard library for the parts Go's
// packages do not cover (c2sp.org/tlog-cosignature Ed25519 cosignatures).
//
// What it checks (one output line per group; exit status 1 on the first
// failure):
//
//  1. checkpoint: P/checkpoint is a c2sp.org/tlog-checkpoint signed note that
//     note.Open accepts with the -vkey verifier; the key name equals the
//     origin, and the origin ends in "/"+goal.
//  2. tiles: tlog.TreeHash(N) over a tlog.TileHashReader fed with the
//     c2sp.org/tlog-tiles hash tiles at P/tile/... equals the signed root
//     (TileHashReader authenticates every tile it hands out).
//  3. inclusion: for sampled indices i (always 0 and N-1): the entry taken
//     from the entry bundle P/tile/entries/..., hashed with tlog.RecordHash,
//     verifies with tlog.CheckRecord against a tlog.ProveRecord proof built
//     from the tiles; the node's own API proof is identical hash for hash and
//     also verifies. Every entry of each fetched bundle must also hash to the
//     authenticated level-0 tile hash at its index.
//  4. consistency: for sampled sizes m in [1, N] (always 1 and N): the
//     tile-derived tlog.ProveTree(N, m) proof verifies with tlog.CheckTree
//     between TreeHash(m) and the signed root; the node's API consistency
//     proof is identical and also verifies.
//  5. witness: each -witness vkey (type 0x04, cosignature/v1) has a valid
//     cosignature on the checkpoint.
//  6. receipt: each -receipt file (c2sp.org/tlog-proof@v1) has a checkpoint
//     that note.Open accepts, an inclusion proof for RecordHash(extra) that
//     tlog.CheckRecord accepts, a valid cosignature from every -witness, and
//     (when its size is at most the current one) a root equal to the
//     tile-derived TreeHash at its size, i.e. it is consistent with the
//     current checkpoint.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is the c2sp.org/tlog-tiles tile height (256 hashes per tile).
const tileHeight = 8

const fullWidth = 1 << tileHeight

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	var (
		baseURL   = flag.String("url", "", "node base URL, e.g. http://127.0.0.1:8080 (required)")
		goal      = flag.String("goal", "", "goal id (required)")
		vkey      = flag.String("vkey", "", "log verifier key name+hexid+base64(0x01||pubkey) (required)")
		samples   = flag.Int("samples", 40, "number of sampled entry indices and of sampled old tree sizes")
		seed      = flag.Int64("seed", 1, "math/rand seed for the samples")
		timeout   = flag.Duration("timeout", 30*time.Second, "per-request HTTP timeout")
		verbose   = flag.Bool("v", false, "log every HTTP request to stderr")
		witnesses stringList
		receipts  stringList
	)
	flag.Var(&witnesses, "witness", "witness vkey name+hexid+base64(0x04||pubkey) whose cosignature is required (repeatable)")
	flag.Var(&receipts, "receipt", "c2sp.org/tlog-proof@v1 file to verify (repeatable)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: tlogcheck -url URL -goal GOAL -vkey VKEY [-samples 40] [-seed 1] [-witness WVKEY]... [-receipt FILE]...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *baseURL == "" || *goal == "" || *vkey == "" || flag.NArg() != 0 || *samples < 0 {
		flag.Usage()
		os.Exit(2)
	}

	verifier, err := note.NewVerifier(*vkey)
	if err != nil {
		fail("-vkey %q: note.NewVerifier: %v", *vkey, err)
	}
	var wits []*witness
	for _, w := range witnesses {
		wv, err := parseWitnessKey(w)
		if err != nil {
			fail("-witness %q: %v", w, err)
		}
		wits = append(wits, wv)
	}

	c := &client{
		http:    &http.Client{Timeout: *timeout},
		base:    strings.TrimRight(*baseURL, "/"),
		goal:    *goal,
		tiles:   map[string][]byte{},
		bundle:  map[int64][][]byte{},
		verbose: *verbose,
	}
	c.prefix = c.base + "/logs/" + url.PathEscape(*goal)

	// 1. Checkpoint.
	cpBytes, err := c.get(c.prefix + "/checkpoint")
	if err != nil {
		fail("checkpoint: %v", err)
	}
	cp, err := openCheckpoint(cpBytes, verifier, *goal)
	if err != nil {
		fail("checkpoint %s/checkpoint: %v", c.prefix, err)
	}
	fmt.Printf("checkpoint: origin %s, size %d, root %s; log signature by %s verified by note.Open (%d other signature line(s))\n",
		cp.origin, cp.size, cp.root, verifier.Name(), len(cp.note.UnverifiedSigs))

	N, root := cp.size, cp.root
	var hr tlog.HashReader
	var nIncl, nCons, nBundleEntries int
	if N == 0 {
		// TreeHash(0) in Go's tlog is the zero hash; RFC 6962's empty tree
		// hash is SHA-256 of the empty string.
		if root != tlog.Hash(sha256.Sum256(nil)) {
			fail("tiles: empty tree (size 0) must have root SHA-256(\"\"), checkpoint has %s", root)
		}
		fmt.Printf("tiles: size 0, root is SHA-256(\"\"); nothing to fetch\n")
		fmt.Printf("inclusion: skipped (empty log)\nconsistency: skipped (empty log)\n")
	} else {
		// 2. Tiles: let Go recompute the signed root from the served tiles.
		hr = tlog.TileHashReader(tlog.Tree{N: N, Hash: root}, c)
		th, err := tlog.TreeHash(N, hr)
		if err != nil {
			fail("tiles: tlog.TreeHash(%d) over the served tiles: %v (the served tiles do not support the signed root)", N, err)
		}
		if th != root {
			fail("tiles: tlog.TreeHash(%d) = %s, checkpoint root %s", N, th, root)
		}
		fmt.Printf("tiles: tlog.TreeHash(%d) over a tlog.TileHashReader equals the signed root (%d tile(s) fetched so far)\n",
			N, c.tileGets)

		// 3. Inclusion.
		rng := rand.New(rand.NewSource(*seed))
		indices := sample(rng, 0, N-1, *samples)
		checkedBundles := map[int64]bool{}
		for _, i := range indices {
			p, err := tlog.ProveRecord(N, i, hr)
			if err != nil {
				fail("inclusion: tlog.ProveRecord(%d, %d) from tiles: %v", N, i, err)
			}
			entries, err := c.entryBundle(i/fullWidth, N)
			if err != nil {
				fail("inclusion: entry %d: %v", i, err)
			}
			entry := entries[i%fullWidth]
			leaf := tlog.RecordHash(entry)
			if err := tlog.CheckRecord(p, N, root, i, leaf); err != nil {
				fail("inclusion: entry %d (%d bytes, leaf %s): tlog.CheckRecord with the tile-derived proof: %v (a served tile or the entry bundle is wrong)", i, len(entry), leaf, err)
			}
			if b := i / fullWidth; !checkedBundles[b] {
				checkedBundles[b] = true
				if err := checkBundle(hr, b, entries); err != nil {
					fail("inclusion: %v", err)
				}
				nBundleEntries += len(entries)
			}
			u := fmt.Sprintf("%s/api/v1/goals/%s/log/%d/proof?size=%d", c.base, url.PathEscape(c.goal), i, N)
			np, err := c.getProof(u)
			if err != nil {
				fail("inclusion: node proof for entry %d at size %d: %v", i, N, err)
			}
			if err := sameHashes(p, np); err != nil {
				fail("inclusion: node proof for entry %d at size %d differs from tlog.ProveRecord: %v", i, N, err)
			}
			if err := tlog.CheckRecord(tlog.RecordProof(np), N, root, i, leaf); err != nil {
				fail("inclusion: node proof for entry %d at size %d: tlog.CheckRecord: %v", i, N, err)
			}
			nIncl++
		}
		fmt.Printf("inclusion: %d entries (incl. 0 and %d): tlog.CheckRecord passes on tile-derived and node proofs, node proofs identical; %d entries in %d bundle(s) match the level-0 tile hashes\n",
			nIncl, N-1, nBundleEntries, len(checkedBundles))

		// 4. Consistency.
		sizes := sample(rng, 1, N, *samples)
		for _, m := range sizes {
			oldRoot, err := tlog.TreeHash(m, hr)
			if err != nil {
				fail("consistency: tlog.TreeHash(%d) from tiles: %v", m, err)
			}
			p, err := tlog.ProveTree(N, m, hr)
			if err != nil {
				fail("consistency: tlog.ProveTree(%d, %d) from tiles: %v", N, m, err)
			}
			if err := tlog.CheckTree(p, N, root, m, oldRoot); err != nil {
				fail("consistency: %d -> %d: tlog.CheckTree with the tile-derived proof: %v (a served tile is wrong)", m, N, err)
			}
			u := fmt.Sprintf("%s/api/v1/goals/%s/consistency?from=%d&to=%d", c.base, url.PathEscape(c.goal), m, N)
			np, err := c.getProof(u)
			if err != nil {
				fail("consistency: node proof %d -> %d: %v", m, N, err)
			}
			if err := sameHashes(p, np); err != nil {
				fail("consistency: node proof %d -> %d differs from tlog.ProveTree: %v", m, N, err)
			}
			if err := tlog.CheckTree(tlog.TreeProof(np), N, root, m, oldRoot); err != nil {
				fail("consistency: node proof %d -> %d: tlog.CheckTree: %v", m, N, err)
			}
			nCons++
		}
		fmt.Printf("consistency: %d old sizes (incl. 1 and %d): tlog.CheckTree passes on tile-derived and node proofs, node proofs identical\n",
			nCons, N)
	}

	// 5. Witness cosignatures on the live checkpoint.
	for _, w := range wits {
		ts, err := w.verify(cp.note)
		if err != nil {
			fail("witness %s: checkpoint: %v", w.name, err)
		}
		fmt.Printf("witness %s: cosignature/v1 on the checkpoint verifies (time %d, %s)\n",
			w.name, ts, time.Unix(int64(ts), 0).UTC().Format(time.RFC3339))
	}

	// 6. Receipts.
	for _, f := range receipts {
		msg, err := checkReceipt(f, verifier, *goal, cp, hr, wits)
		if err != nil {
			fail("receipt %s: %v", f, err)
		}
		fmt.Printf("receipt %s: %s\n", f, msg)
	}

	fmt.Printf("ok: goal %s, size %d, root %s: checkpoint, tiles, %d inclusion, %d consistency, %d witness(es), %d receipt(s) verified (%d tile(s), %d bundle(s) fetched)\n",
		*goal, N, root, nIncl, nCons, len(wits), len(receipts), c.tileGets, len(c.bundle))
}

// sample returns up to n distinct values in [lo, hi], always including lo
// and hi, the rest uniformly at random; sorted. If n >= hi-lo+1, all values.
func sample(rng *rand.Rand, lo, hi int64, n int) []int64 {
	span := hi - lo + 1
	set := map[int64]bool{lo: true, hi: true}
	if int64(n) >= span {
		for v := lo; v <= hi; v++ {
			set[v] = true
		}
	} else {
		for len(set) < n {
			set[lo+rng.Int63n(span)] = true
		}
	}
	out := make([]int64, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out
}

// ---- HTTP ----

type client struct {
	http   *http.Client
	base   string // node base URL
	goal   string
	prefix string // base + "/logs/" + goal

	tiles  map[string][]byte  // C2SP tile path -> raw bytes as served
	bundle map[int64][][]byte // bundle index -> entries

	verbose  bool
	tileGets int // hash tiles downloaded
}

type httpStatusError struct {
	url    string
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.url, e.status, e.body)
}

func (c *client) get(u string) ([]byte, error) {
	if c.verbose {
		fmt.Fprintf(os.Stderr, "GET %s\n", u)
	}
	resp, err := c.http.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: reading body: %v", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		s := strings.TrimSpace(string(body))
		if len(s) > 300 {
			s = s[:300] + "..."
		}
		return nil, &httpStatusError{u, resp.StatusCode, s}
	}
	return body, nil
}

func isNotFound(err error) bool {
	var he *httpStatusError
	return errors.As(err, &he) && he.status == http.StatusNotFound
}

// getProof fetches a JSON document and decodes its "proof" field: an array
// of lowercase-hex 32-byte hashes (an object {"hashes": [...]} is accepted
// too). Other fields are ignored.
func (c *client) getProof(u string) ([]tlog.Hash, error) {
	body, err := c.get(u)
	if err != nil {
		return nil, err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: not a JSON object: %v", u, err)
	}
	raw, ok := doc["proof"]
	if !ok {
		return nil, fmt.Errorf("GET %s: no \"proof\" field", u)
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var obj struct {
			Hashes *[]string `json:"hashes"`
		}
		if err2 := json.Unmarshal(raw, &obj); err2 != nil || obj.Hashes == nil {
			return nil, fmt.Errorf("GET %s: \"proof\" is not an array of hex strings: %v", u, err)
		}
		list = *obj.Hashes
	}
	out := make([]tlog.Hash, len(list))
	for k, s := range list {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return nil, fmt.Errorf("GET %s: proof[%d] = %q is not a 32-byte hex hash", u, k, s)
		}
		copy(out[k][:], b)
	}
	return out, nil
}

func sameHashes(want, got []tlog.Hash) error {
	if len(want) != len(got) {
		return fmt.Errorf("node sent %d hashes, Go computed %d", len(got), len(want))
	}
	for k := range want {
		if want[k] != got[k] {
			return fmt.Errorf("hash %d: node %s, Go %s", k, hex.EncodeToString(got[k][:]), hex.EncodeToString(want[k][:]))
		}
	}
	return nil
}

// ---- tiles (tlog.TileReader) ----

// c2spTilePath maps Go's "tile/8/L/NNN[.p/W]" to C2SP's "tile/L/NNN[.p/W]".
func c2spTilePath(t tlog.Tile) (string, error) {
	if t.H != tileHeight || t.L < 0 {
		return "", fmt.Errorf("unexpected tile %+v (want height %d, level >= 0)", t, tileHeight)
	}
	gp := t.Path()
	const goPrefix = "tile/8/"
	if !strings.HasPrefix(gp, goPrefix) {
		return "", fmt.Errorf("unexpected Go tile path %q", gp)
	}
	return "tile/" + strings.TrimPrefix(gp, goPrefix), nil
}

func (c *client) Height() int { return tileHeight }

func (c *client) SaveTiles(tiles []tlog.Tile, data [][]byte) {}

func (c *client) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for k, t := range tiles {
		d, err := c.readTile(t)
		if err != nil {
			return nil, err
		}
		out[k] = d
	}
	return out, nil
}

// readTile returns exactly t.W*32 bytes. A partial tile that is gone (404)
// is taken from the prefix of the full tile, as c2sp.org/tlog-tiles allows.
func (c *client) readTile(t tlog.Tile) ([]byte, error) {
	p, err := c2spTilePath(t)
	if err != nil {
		return nil, err
	}
	want := t.W * tlog.HashSize
	d, err := c.fetchTile(p)
	if err == nil {
		if len(d) != want {
			return nil, fmt.Errorf("tile %s: %d bytes, want %d (%d hashes)", p, len(d), want, t.W)
		}
		return d, nil
	}
	if t.W == fullWidth || !isNotFound(err) {
		return nil, fmt.Errorf("tile %s: %v", p, err)
	}
	full := t
	full.W = fullWidth
	fp, _ := c2spTilePath(full)
	fd, ferr := c.fetchTile(fp)
	if ferr != nil {
		return nil, fmt.Errorf("tile %s: %v (full-tile fallback: %v)", p, err, ferr)
	}
	if len(fd) != fullWidth*tlog.HashSize {
		return nil, fmt.Errorf("tile %s: %d bytes, want %d", fp, len(fd), fullWidth*tlog.HashSize)
	}
	c.tiles[p] = fd[:want] // do not ask for the missing partial tile again
	return fd[:want], nil
}

func (c *client) fetchTile(p string) ([]byte, error) {
	if d, ok := c.tiles[p]; ok {
		return d, nil
	}
	d, err := c.get(c.prefix + "/" + p)
	if err != nil {
		return nil, err
	}
	c.tileGets++
	c.tiles[p] = d
	return d, nil
}

// ---- entry bundles ----

// entriesPath is "tile/entries/NNN[.p/W]", with N and W encoded as for
// level-0 tiles (Go's tile path encoding).
func entriesPath(n int64, w int) string {
	gp := tlog.Tile{H: tileHeight, L: 0, N: n, W: w}.Path()
	return "tile/entries/" + strings.TrimPrefix(gp, "tile/8/0/")
}

func parseBundle(b []byte) ([][]byte, error) {
	var out [][]byte
	for off := 0; off < len(b); {
		if len(b)-off < 2 {
			return nil, fmt.Errorf("truncated length prefix at byte %d (entry %d)", off, len(out))
		}
		l := int(binary.BigEndian.Uint16(b[off:]))
		off += 2
		if len(b)-off < l {
			return nil, fmt.Errorf("entry %d: length %d but only %d bytes left", len(out), l, len(b)-off)
		}
		out = append(out, b[off:off+l])
		off += l
	}
	return out, nil
}

// entryBundle returns the entries of bundle n of a tree of size size,
// exactly as many as the tree holds in that bundle.
func (c *client) entryBundle(n, size int64) ([][]byte, error) {
	if e, ok := c.bundle[n]; ok {
		return e, nil
	}
	w := fullWidth
	if n == size/fullWidth {
		w = int(size % fullWidth)
	}
	if w == 0 || n > size/fullWidth {
		return nil, fmt.Errorf("bundle %d is not in a tree of size %d", n, size)
	}
	p := entriesPath(n, w)
	body, err := c.get(c.prefix + "/" + p)
	if err != nil && w != fullWidth && isNotFound(err) {
		fp := entriesPath(n, fullWidth)
		fb, ferr := c.get(c.prefix + "/" + fp)
		if ferr != nil {
			return nil, fmt.Errorf("bundle %s: %v (full-bundle fallback: %v)", p, err, ferr)
		}
		fe, perr := parseBundle(fb)
		if perr != nil {
			return nil, fmt.Errorf("bundle %s: %v", fp, perr)
		}
		if len(fe) != fullWidth {
			return nil, fmt.Errorf("bundle %s: %d entries, want %d", fp, len(fe), fullWidth)
		}
		c.bundle[n] = fe[:w]
		return fe[:w], nil
	}
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %v", p, err)
	}
	e, err := parseBundle(body)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %v", p, err)
	}
	if len(e) != w {
		return nil, fmt.Errorf("bundle %s: %d entries, want %d", p, len(e), w)
	}
	c.bundle[n] = e
	return e, nil
}

// checkBundle checks that every entry of bundle b hashes (tlog.RecordHash)
// to the level-0 hash that the TileHashReader returns for its index.
//
// Go's TileHashReader does not authenticate every tile it returns (its
// parent check starts at len(stx) rather than at the number of distinct
// tiles holding stx, so an index tile can slip through when several stx
// hashes share a tile; see README). checkBundle is therefore only sound
// because the caller first ran tlog.CheckRecord for an index i of this
// bundle: that proof's siblings below level 8 are computed from this same
// level-0 tile (same cached bytes) and cover all of it except i, so a
// passing CheckRecord pins every hash in the tile except i's, which this
// function compares with the entry itself.
func checkBundle(hr tlog.HashReader, b int64, entries [][]byte) error {
	idx := make([]int64, len(entries))
	for k := range entries {
		idx[k] = tlog.StoredHashIndex(0, b*fullWidth+int64(k))
	}
	hs, err := hr.ReadHashes(idx)
	if err != nil {
		return fmt.Errorf("bundle %d: level-0 hashes from tiles: %v", b, err)
	}
	for k, e := range entries {
		if got := tlog.RecordHash(e); got != hs[k] {
			return fmt.Errorf("bundle %s: entry %d hashes to %s, level-0 tile has %s",
				entriesPath(b, len(entries)), b*fullWidth+int64(k), got, hs[k])
		}
	}
	return nil
}

// ---- checkpoints ----

type checkpoint struct {
	note   *note.Note
	origin string
	size   int64
	root   tlog.Hash
}

// openCheckpoint verifies msg with note.Open and parses the c2sp.org
// tlog-checkpoint body (origin, size, base64 root, optional extension lines).
func openCheckpoint(msg []byte, v note.Verifier, goal string) (*checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var ue *note.UnverifiedNoteError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("note.Open: %v: no signature by the -vkey key %s/%08x (signature lines: %s)", err, v.Name(), v.KeyHash(), sigNames(ue.Note))
		}
		return nil, fmt.Errorf("note.Open: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(n.Text, "\n"), "\n")
	if len(lines) < 3 {
		return nil, fmt.Errorf("checkpoint body has %d lines, want at least 3", len(lines))
	}
	for k, l := range lines {
		if l == "" {
			return nil, fmt.Errorf("checkpoint body line %d is empty", k+1)
		}
	}
	cp := &checkpoint{note: n, origin: lines[0]}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return nil, fmt.Errorf("checkpoint size line %q is not a decimal without leading zeroes", lines[1])
	}
	cp.size = size
	rb, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(rb) != tlog.HashSize {
		return nil, fmt.Errorf("checkpoint root line %q is not a base64 32-byte hash", lines[2])
	}
	copy(cp.root[:], rb)
	if !strings.HasSuffix(cp.origin, "/"+goal) {
		return nil, fmt.Errorf("origin %q does not end with %q", cp.origin, "/"+goal)
	}
	if v.Name() != cp.origin {
		return nil, fmt.Errorf("log key name %q differs from origin %q", v.Name(), cp.origin)
	}
	return cp, nil
}

func sigNames(n *note.Note) string {
	if n == nil {
		return "?"
	}
	var s []string
	for _, sg := range n.Sigs {
		s = append(s, fmt.Sprintf("%s/%08x", sg.Name, sg.Hash))
	}
	for _, sg := range n.UnverifiedSigs {
		s = append(s, fmt.Sprintf("%s/%08x", sg.Name, sg.Hash))
	}
	return strings.Join(s, ", ")
}

// ---- c2sp.org/tlog-cosignature (cosignature/v1, Ed25519, type 0x04) ----

const algCosignatureV1 = 0x04

type witness struct {
	name string
	id   uint32
	pub  ed25519.PublicKey
}

func parseWitnessKey(vkey string) (*witness, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("want name+hexid+base64key")
	}
	name, hexID, b64 := parts[0], parts[1], parts[2]
	if name == "" || strings.ContainsAny(name, " \t\n") {
		return nil, fmt.Errorf("invalid key name %q", name)
	}
	id, err := strconv.ParseUint(hexID, 16, 32)
	if err != nil || len(hexID) != 8 {
		return nil, fmt.Errorf("key id %q is not 8 hex digits", hexID)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("key is not base64: %v", err)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("key is not type 0x04 (cosignature/v1) || 32-byte Ed25519 public key")
	}
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(key) // 0x04 || pubkey
	want := binary.BigEndian.Uint32(h.Sum(nil))
	if uint32(id) != want {
		return nil, fmt.Errorf("key id %s does not match SHA-256(name || \"\\n\" || 0x04 || key)[:4] = %08x", hexID, want)
	}
	return &witness{name: name, id: want, pub: ed25519.PublicKey(key[1:])}, nil
}

// verify finds this witness's signature lines in n (note.Open keeps them in
// UnverifiedSigs, since it does not know the key) and checks them. Every
// line with this name and key id must verify; at least one must exist.
func (w *witness) verify(n *note.Note) (uint64, error) {
	var ts uint64
	found := 0
	for _, s := range n.UnverifiedSigs {
		if s.Name != w.name || s.Hash != w.id {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(s.Base64)
		if err != nil {
			return 0, fmt.Errorf("signature line is not base64: %v", err)
		}
		if len(sig) != 4+8+ed25519.SignatureSize {
			return 0, fmt.Errorf("cosignature is %d bytes, want %d (key id, timestamp, Ed25519 signature)", len(sig), 4+8+ed25519.SignatureSize)
		}
		t := binary.BigEndian.Uint64(sig[4:12])
		if t > 1<<63-1 {
			return 0, fmt.Errorf("cosignature timestamp %d exceeds 2^63-1", t)
		}
		msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, n.Text)
		if !ed25519.Verify(w.pub, []byte(msg), sig[12:]) {
			return 0, fmt.Errorf("cosignature (time %d) does not verify", t)
		}
		found++
		ts = t
	}
	if found == 0 {
		return 0, fmt.Errorf("no signature line by %s with key id %08x (signature lines: %s)", w.name, w.id, sigNames(n))
	}
	return ts, nil
}

// ---- c2sp.org/tlog-proof ----

const proofHeader = "c2sp.org/tlog-proof@v1"

func checkReceipt(file string, v note.Verifier, goal string, cur *checkpoint, hr tlog.HashReader, wits []*witness) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	rest := data
	nextLine := func() (string, bool) {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			return "", false
		}
		l := string(rest[:i])
		rest = rest[i+1:]
		return l, true
	}
	l, ok := nextLine()
	if !ok || l != proofHeader {
		return "", fmt.Errorf("first line %q, want %q", l, proofHeader)
	}
	l, ok = nextLine()
	if !ok || !strings.HasPrefix(l, "extra ") {
		return "", fmt.Errorf("second line %q: want \"extra <base64 entry>\" (the entry is needed for the leaf hash)", l)
	}
	extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "extra "))
	if err != nil {
		return "", fmt.Errorf("extra line is not base64: %v", err)
	}
	l, ok = nextLine()
	if !ok || !strings.HasPrefix(l, "index ") {
		return "", fmt.Errorf("third line %q: want \"index <n>\"", l)
	}
	is := strings.TrimPrefix(l, "index ")
	index, err := strconv.ParseInt(is, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != is {
		return "", fmt.Errorf("index %q is not a decimal without leading zeroes", is)
	}
	var path tlog.RecordProof
	for {
		l, ok = nextLine()
		if !ok {
			return "", errors.New("no empty line before the checkpoint")
		}
		if l == "" {
			break
		}
		b, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(b) != tlog.HashSize {
			return "", fmt.Errorf("proof line %d %q is not a base64 32-byte hash", len(path)+1, l)
		}
		var h tlog.Hash
		copy(h[:], b)
		path = append(path, h)
	}
	cp, err := openCheckpoint(rest, v, goal)
	if err != nil {
		return "", fmt.Errorf("checkpoint: %v", err)
	}
	if cp.origin != cur.origin {
		return "", fmt.Errorf("checkpoint origin %q, live checkpoint has %q", cp.origin, cur.origin)
	}
	leaf := tlog.RecordHash(extra)
	if err := tlog.CheckRecord(path, cp.size, cp.root, index, leaf); err != nil {
		return "", fmt.Errorf("index %d, size %d: tlog.CheckRecord(%d-hash path, leaf %s): %v", index, cp.size, len(path), leaf, err)
	}
	for _, w := range wits {
		if _, err := w.verify(cp.note); err != nil {
			return "", fmt.Errorf("witness %s: %v", w.name, err)
		}
	}
	msg := fmt.Sprintf("index %d in size %d: note.Open and tlog.CheckRecord pass, %d witness cosignature(s) verify", index, cp.size, len(wits))
	switch {
	case cp.size <= cur.size && hr != nil:
		// ProveTree + CheckTree rather than comparing with TreeHash(size):
		// CheckTree binds the result to the signed root even where the
		// TileHashReader hands out unauthenticated hashes (see README).
		p, err := tlog.ProveTree(cur.size, cp.size, hr)
		if err != nil {
			return "", fmt.Errorf("tlog.ProveTree(%d, %d) from tiles: %v", cur.size, cp.size, err)
		}
		if err := tlog.CheckTree(p, cur.size, cur.root, cp.size, cp.root); err != nil {
			return "", fmt.Errorf("checkpoint (size %d, root %s) is not consistent with the live checkpoint (size %d, root %s): tlog.CheckTree: %v", cp.size, cp.root, cur.size, cur.root, err)
		}
		msg += fmt.Sprintf("; tlog.CheckTree proves it consistent with the live checkpoint (%d -> %d)", cp.size, cur.size)
	case cp.size > cur.size:
		msg += fmt.Sprintf("; newer than the live checkpoint (size %d), consistency not checked", cur.size)
	}
	return msg, nil
}
