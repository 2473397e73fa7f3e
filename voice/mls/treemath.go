package mls

import "math/bits"

// Array-based tree math (RFC 9420 Appendix C). Leaves sit at even node
// indices; leaf i is node 2i. Trees always have a power-of-two leaf count.

// level is the number of trailing one bits: 0 for leaves.
func level(x uint32) uint {
	return uint(bits.TrailingZeros32(^x))
}

// nodeWidth is the node count of a tree with n leaves.
func nodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// root is the root node of a tree with n leaves (n a power of two).
func root(n uint32) uint32 {
	w := nodeWidth(n)
	return (uint32(1) << (bits.Len32(w) - 1)) - 1
}

func left(x uint32) uint32 {
	k := level(x)
	return x ^ (1 << (k - 1))
}

func right(x uint32) uint32 {
	k := level(x)
	return x ^ (3 << (k - 1))
}

func parent(x uint32) uint32 {
	k := level(x)
	b := (x >> (k + 1)) & 1
	return (x | (1 << k)) ^ (b << (k + 1))
}

func sibling(x uint32) uint32 {
	p := parent(x)
	if x < p {
		return right(p)
	}
	return left(p)
}

// directPath lists the parents of x from x's parent up to the root.
func directPath(x, n uint32) []uint32 {
	r := root(n)
	var d []uint32
	for x != r {
		x = parent(x)
		d = append(d, x)
	}
	return d
}

// isInSubtree reports whether node y lies in the subtree rooted at x.
func isInSubtree(x, y uint32) bool {
	k := level(x)
	return y>>(k+1) == x>>(k+1)
}
