package scim

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count and time SCIM requests by method, resource and status.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_scim_requests_total",
			Help: "SCIM requests by method, resource (Users, Groups, search, discovery, other) and HTTP status code.",
		}, []string{"method", "resource", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jitd_scim_request_duration_seconds",
			Help:    "Time to answer a SCIM request, by method and resource.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "resource"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency)
	}
	return m
}

// methodLabel bounds the method label to the methods SCIM uses.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return m
	}
	return "other"
}

// resourceLabel bounds the resource label to SCIM's endpoints.
func resourceLabel(path string) string {
	first, rest, _ := strings.Cut(strings.Trim(path, "/"), "/")
	switch strings.ToLower(first) {
	case "users":
		if strings.EqualFold(rest, ".search") {
			return "search"
		}
		return "Users"
	case "groups":
		if strings.EqualFold(rest, ".search") {
			return "search"
		}
		return "Groups"
	case ".search":
		return "search"
	case "serviceproviderconfig", "schemas", "resourcetypes":
		return "discovery"
	}
	return "other"
}
