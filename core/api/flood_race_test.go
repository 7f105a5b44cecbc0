//go:build race

package api_test

// slowConns is how many slow connections the flood test opens: fewer under
// the race detector, which allows at most 8,128 live goroutines.
const slowConns = 1500
