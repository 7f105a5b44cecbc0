package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/jitd/jitd/core/audit"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
)

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	limit := 100
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 10000 {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "limit must be between 1 and 10000"}
		}
		limit = n
	}
	var before int64
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 1 {
			return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "before must be an event's sequence number (1 or more)"}
		}
		before = n
	}
	evs, err := s.store.AuditEvents(r.Context(), store.AuditFilter{GrantID: r.URL.Query().Get("grant"), Limit: limit, Before: before})
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []audit.Event{}
	}
	writeJSON(w, http.StatusOK, AuditList{Events: evs})
	return nil
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	noWriteDeadline(w) // the whole log is read
	var req VerifyRequest
	if r.Method == http.MethodPost {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	res, err := VerifyAudit(r.Context(), s.store, s.auditKeys, req.Checkpoints)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// VerifyAudit checks the whole audit chain in the store: keyed from
// keys.Since on when keys are set, and against each signed checkpoint (the
// log must still hold the event a checkpoint saw, unchanged).
func VerifyAudit(ctx context.Context, st store.Audit, keys *audit.Keys, checkpoints []string) (VerifyResult, error) {
	v := audit.NewVerifier()
	if keys != nil {
		v = audit.NewKeyedVerifier(*keys)
	}
	seen := map[int64]string{} // seq -> hash, of the checkpoints not yet found in the log
	checked := 0
	var problems []audit.Problem
	for i, line := range checkpoints {
		if strings.TrimSpace(line) == "" {
			continue
		}
		if keys == nil {
			return VerifyResult{}, &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: "this log is not keyed: there are no checkpoints to check"}
		}
		c, err := keys.ParseCheckpoint(line)
		if err != nil {
			problems = append(problems, audit.Problem{Reason: fmt.Sprintf("checkpoint %d: %v", i+1, err)})
			continue
		}
		seen[c.Seq] = c.Hash
		checked++
	}
	err := st.WalkAudit(ctx, func(e audit.Event) error {
		v.Add(e)
		if want, ok := seen[e.Seq]; ok {
			if want != e.Hash {
				problems = append(problems, audit.Problem{Seq: e.Seq, Reason: "differs from what a signed checkpoint saw: the log was rewritten"})
			}
			delete(seen, e.Seq)
		}
		return nil
	})
	if err != nil {
		return VerifyResult{}, err
	}
	for seq := range seen {
		problems = append(problems, audit.Problem{Seq: seq, Reason: "a signed checkpoint saw this event, and the log no longer holds it: rows deleted"})
	}
	seq, hash, err := st.AuditHead(ctx)
	if err != nil {
		return VerifyResult{}, err
	}
	problems = append(v.Finish(seq, hash), problems...)
	res := VerifyResult{OK: len(problems) == 0, Events: v.Count, Problems: problems, Checkpoints: checked}
	if res.Problems == nil {
		res.Problems = []audit.Problem{}
	}
	if keys != nil {
		res.Keyed, res.KeyedSince = true, keys.Since
	}
	return res, nil
}
