package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// parentNode is RFC 9420 ParentNode.
type parentNode struct {
	encryptionKey []byte
	parentHash    []byte
	unmerged      []uint32
}

func (p *parentNode) marshal(w *writer, exclude func(uint32) bool) {
	w.vec(p.encryptionKey)
	w.vec(p.parentHash)
	w.nested(func(w *writer) {
		for _, l := range p.unmerged {
			if exclude == nil || !exclude(l) {
				w.u32(l)
			}
		}
	})
}

func (p *parentNode) unmarshal(r *reader) {
	p.encryptionKey = r.vec()
	p.parentHash = r.vec()
	s := r.sub()
	for s.err == nil && len(s.b) > 0 {
		p.unmerged = append(p.unmerged, s.u32())
	}
	r.join(s)
}

// treeNode is one slot of the array tree; blank when both pointers are nil.
// Nodes are never mutated in place once shared: changes replace the pointer,
// so cloning a tree is a shallow slice copy.
type treeNode struct {
	leaf   *leafNode
	parent *parentNode
}

func (n treeNode) blank() bool { return n.leaf == nil && n.parent == nil }

func (n treeNode) encryptionKey() []byte {
	if n.leaf != nil {
		return n.leaf.encryptionKey
	}
	if n.parent != nil {
		return n.parent.encryptionKey
	}
	return nil
}

// ratchetTree is the RFC 9420 §7 ratchet tree with a power-of-two leaf count.
type ratchetTree struct {
	nodes []treeNode
}

func (t *ratchetTree) clone() *ratchetTree {
	return &ratchetTree{nodes: slices.Clone(t.nodes)}
}

func (t *ratchetTree) leaves() uint32 { return uint32(len(t.nodes)+1) / 2 }

func (t *ratchetTree) leafAt(i uint32) *leafNode {
	if 2*uint64(i) >= uint64(len(t.nodes)) {
		return nil
	}
	return t.nodes[2*i].leaf
}

// marshal encodes the tree as `optional<Node> ratchet_tree<V>` with trailing
// blanks dropped (the ratchet_tree extension body).
func (t *ratchetTree) marshal() []byte {
	end := len(t.nodes)
	for end > 0 && t.nodes[end-1].blank() {
		end--
	}
	var w writer
	w.nested(func(w *writer) {
		for _, n := range t.nodes[:end] {
			switch {
			case n.leaf != nil:
				w.u8(1)
				w.u8(nodeTypeLeaf)
				n.leaf.marshal(w)
			case n.parent != nil:
				w.u8(1)
				w.u8(nodeTypeParent)
				n.parent.marshal(w, nil)
			default:
				w.u8(0)
			}
		}
	})
	return w.b
}

// maxTreeNodes bounds imported trees (2^16 leaves); DAVE calls are far smaller.
const maxTreeNodes = 1 << 17

func unmarshalTree(b []byte) (*ratchetTree, error) {
	r := reader{b: b}
	s := r.sub()
	var nodes []treeNode
	for s.err == nil && len(s.b) > 0 {
		if len(nodes) >= maxTreeNodes {
			return nil, errors.New("mls: ratchet tree too large")
		}
		var n treeNode
		if s.optional() {
			typ := s.u8()
			want := uint8(nodeTypeLeaf)
			if len(nodes)%2 == 1 {
				want = nodeTypeParent
			}
			if s.err == nil && typ != want {
				return nil, fmt.Errorf("mls: ratchet tree node %d has type %d", len(nodes), typ)
			}
			if typ == nodeTypeLeaf {
				n.leaf = new(leafNode)
				n.leaf.unmarshal(s)
			} else {
				n.parent = new(parentNode)
				n.parent.unmarshal(s)
			}
		}
		nodes = append(nodes, n)
	}
	r.join(s)
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("mls: decode ratchet tree: %w", err)
	}
	if len(nodes) == 0 || nodes[len(nodes)-1].blank() || len(nodes)%2 == 0 {
		return nil, errors.New("mls: ratchet tree must end with a non-blank leaf")
	}
	leaves := uint32(1)
	for nodeWidth(leaves) < uint32(len(nodes)) {
		leaves *= 2
	}
	for uint32(len(nodes)) < nodeWidth(leaves) {
		nodes = append(nodes, treeNode{})
	}
	return &ratchetTree{nodes: nodes}, nil
}

// resolution is RFC 9420 §4.1.1 resolution of node x, skipping excluded leaves
// (by leaf index).
func (t *ratchetTree) resolution(x uint32, exclude func(uint32) bool) []uint32 {
	n := t.nodes[x]
	switch {
	case n.leaf != nil:
		if exclude != nil && exclude(x/2) {
			return nil
		}
		return []uint32{x}
	case n.parent != nil:
		out := []uint32{x}
		for _, l := range n.parent.unmerged {
			if exclude == nil || !exclude(l) {
				out = append(out, 2*l)
			}
		}
		return out
	case level(x) == 0:
		return nil
	default:
		return append(t.resolution(left(x), exclude), t.resolution(right(x), exclude)...)
	}
}

// filteredDirectPath returns the filtered direct path of leaf i and, for each
// entry, the copath child (RFC 9420 §4.1.2). Members added by the commit
// count toward the copath resolutions here: only the path secrets skip them
// (§7.5), so a node whose copath child holds nothing but new members stays
// on the path, with no ciphertext (as OpenMLS builds and expects it).
func (t *ratchetTree) filteredDirectPath(i uint32) (path, copathChildren []uint32) {
	x := 2 * i
	r := root(t.leaves())
	for x != r {
		p := parent(x)
		s := sibling(x)
		if len(t.resolution(s, nil)) > 0 {
			path = append(path, p)
			copathChildren = append(copathChildren, s)
		}
		x = p
	}
	return path, copathChildren
}

// treeHash is RFC 9420 §7.8 tree hash of the subtree at x. Leaves for which
// exclude returns true are hashed as blank and dropped from unmerged lists
// (the "original sibling tree hash" of §7.9).
func (t *ratchetTree) treeHash(x uint32, exclude func(uint32) bool) []byte {
	var w writer
	n := t.nodes[x]
	if level(x) == 0 {
		w.u8(nodeTypeLeaf)
		w.u32(x / 2)
		if n.leaf != nil && (exclude == nil || !exclude(x/2)) {
			w.u8(1)
			n.leaf.marshal(&w)
		} else {
			w.u8(0)
		}
		return hash(w.b)
	}
	w.u8(nodeTypeParent)
	if n.parent != nil {
		w.u8(1)
		n.parent.marshal(&w, exclude)
	} else {
		w.u8(0)
	}
	w.vec(t.treeHash(left(x), exclude))
	w.vec(t.treeHash(right(x), exclude))
	return hash(w.b)
}

func (t *ratchetTree) rootHash() []byte { return t.treeHash(root(t.leaves()), nil) }

// parentHash computes ParentHash of node p whose copath child is s (§7.9).
func (t *ratchetTree) parentHash(p, s uint32) []byte {
	pn := t.nodes[p].parent
	unmerged := pn.unmerged
	var w writer
	w.vec(pn.encryptionKey)
	w.vec(pn.parentHash)
	w.vec(t.treeHash(s, func(l uint32) bool { return slices.Contains(unmerged, l) }))
	return hash(w.b)
}

func (t *ratchetTree) storedParentHash(x uint32) []byte {
	n := t.nodes[x]
	switch {
	case n.parent != nil:
		return n.parent.parentHash
	case n.leaf != nil && n.leaf.source == leafSourceCommit:
		return n.leaf.parentHash
	}
	return nil
}

// verifyParentHashes checks every non-blank parent node is parent-hash valid
// (RFC 9420 §7.9.2): some node in one child's resolution, outside the parent's
// unmerged leaves, carries the parent hash computed against the other child.
func (t *ratchetTree) verifyParentHashes() error {
	for x := uint32(1); x < uint32(len(t.nodes)); x += 2 {
		pn := t.nodes[x].parent
		if pn == nil {
			continue
		}
		excl := func(l uint32) bool { return slices.Contains(pn.unmerged, l) }
		ok := false
		for _, c := range [2][2]uint32{{left(x), right(x)}, {right(x), left(x)}} {
			h := t.parentHash(x, c[1])
			for _, d := range t.resolution(c[0], excl) {
				if bytes.Equal(t.storedParentHash(d), h) {
					ok = true
					break
				}
			}
			if ok {
				break
			}
		}
		if !ok {
			return fmt.Errorf("mls: node %d is not parent-hash valid", x)
		}
	}
	return nil
}

// validate performs the checks RFC 9420 §12.4.3.1 requires of an imported tree.
func (t *ratchetTree) validate(groupID []byte) error {
	if err := t.verifyParentHashes(); err != nil {
		return err
	}
	n := t.leaves()
	for i := uint32(0); i < n; i++ {
		l := t.leafAt(i)
		if l == nil {
			continue
		}
		if err := l.verify(groupID, i); err != nil {
			return fmt.Errorf("mls: leaf %d: %w", i, err)
		}
	}
	for x := uint32(1); x < uint32(len(t.nodes)); x += 2 {
		pn := t.nodes[x].parent
		if pn == nil {
			continue
		}
		if err := validateHPKEKey(fmt.Sprintf("node %d encryption key", x), pn.encryptionKey); err != nil {
			return err
		}
		for _, l := range pn.unmerged {
			if l >= n || t.leafAt(l) == nil || !isInSubtree(x, 2*l) {
				return fmt.Errorf("mls: node %d lists invalid unmerged leaf %d", x, l)
			}
		}
	}
	return nil
}

// addLeaf places a leaf in the leftmost blank slot, extending the tree if
// needed, and records it as unmerged along its direct path (§12.1.1).
func (t *ratchetTree) addLeaf(l *leafNode) uint32 {
	var i uint32
	for i = 0; i < t.leaves(); i++ {
		if t.nodes[2*i].blank() {
			break
		}
	}
	if i == t.leaves() {
		newLeaves := t.leaves() * 2
		if len(t.nodes) == 0 {
			newLeaves = 1
		}
		for uint32(len(t.nodes)) < nodeWidth(newLeaves) {
			t.nodes = append(t.nodes, treeNode{})
		}
	}
	t.nodes[2*i] = treeNode{leaf: l}
	for _, p := range directPath(2*i, t.leaves()) {
		if pn := t.nodes[p].parent; pn != nil {
			np := *pn
			np.unmerged = append(slices.Clone(pn.unmerged), i)
			t.nodes[p] = treeNode{parent: &np}
		}
	}
	return i
}

func (t *ratchetTree) blankPath(i uint32) {
	for _, p := range directPath(2*i, t.leaves()) {
		t.nodes[p] = treeNode{}
	}
}

// removeLeaf blanks a leaf and its direct path, then truncates (§12.1.3).
func (t *ratchetTree) removeLeaf(i uint32) {
	t.nodes[2*i] = treeNode{}
	t.blankPath(i)
	for t.leaves() > 1 {
		half := t.leaves() / 2
		empty := true
		for j := half; j < t.leaves(); j++ {
			if !t.nodes[2*j].blank() {
				empty = false
				break
			}
		}
		if !empty {
			break
		}
		t.nodes = t.nodes[:nodeWidth(half)]
	}
}

// updateLeaf replaces a member's leaf and blanks its direct path (§12.1.2).
func (t *ratchetTree) updateLeaf(i uint32, l *leafNode) {
	t.nodes[2*i] = treeNode{leaf: l}
	t.blankPath(i)
}

// copathChild returns the child of p that is not an ancestor of leaf i.
func copathChild(p, i uint32) uint32 {
	if isInSubtree(left(p), 2*i) {
		return right(p)
	}
	return left(p)
}

// mergePath installs the public keys of an UpdatePath for sender leaf i and
// recomputes the parent-hash chain, returning the parent hash the new leaf
// must carry (§7.5, §7.9). keys are aligned with the filtered direct path.
func (t *ratchetTree) mergePath(i uint32, path []uint32, keys [][]byte) []byte {
	t.blankPath(i)
	for j, p := range path {
		t.nodes[p] = treeNode{parent: &parentNode{encryptionKey: keys[j]}}
	}
	var above []byte
	for j := len(path) - 1; j >= 0; j-- {
		pn := t.nodes[path[j]].parent
		pn.parentHash = above
		if above == nil {
			pn.parentHash = []byte{}
		}
		above = t.parentHash(path[j], copathChild(path[j], i))
	}
	if above == nil {
		above = []byte{}
	}
	return above
}

func (t *ratchetTree) members() []uint32 {
	var out []uint32
	for i := uint32(0); i < t.leaves(); i++ {
		if t.leafAt(i) != nil {
			out = append(out, i)
		}
	}
	return out
}
