//go:build !unix

package daemon

func monotonicUsec() int64 { return 0 }
