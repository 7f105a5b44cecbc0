//go:build !race

package api_test

// slowConns is how many slow connections the flood test opens.
const slowConns = 5000
