package expiry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jitd/jitd/core/store"
)

// Metrics are the queue's Prometheus metrics.
type Metrics struct {
	lateness    prometheus.Histogram
	revocations *prometheus.CounterVec
}

// NewMetrics registers the queue's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "jitd_revocation_lateness_seconds",
			Help:    "Time from a grant's expires_at to the removal of its membership.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
		}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jitd_revocations_total",
			Help: "Removal attempts by result: success (membership gone or not jitd's) or failure (to be retried).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.lateness, m.revocations)
	m.revocations.WithLabelValues("success")
	m.revocations.WithLabelValues("failure")
	return m
}

func (m *Metrics) observeRevoked(g store.Grant, at time.Time) {
	if m == nil {
		return
	}
	m.revocations.WithLabelValues("success").Inc()
	m.lateness.Observe(max(at.Sub(g.ExpiresAt), 0).Seconds())
}

func (m *Metrics) observeFailure() {
	if m == nil {
		return
	}
	m.revocations.WithLabelValues("failure").Inc()
}
