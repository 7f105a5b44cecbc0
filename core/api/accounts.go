package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jitd/jitd/core/account"
	"github.com/jitd/jitd/core/auth"
	"github.com/jitd/jitd/core/store"
)

// Account is an ephemeral account as the API shows it.
type Account struct {
	ID                string    `json:"id"`
	Directory         string    `json:"directory"`
	ExternalID        string    `json:"external_id,omitempty"`
	Login             string    `json:"login"`
	Email             string    `json:"email,omitempty"`
	GivenName         string    `json:"given_name,omitempty"`
	Surname           string    `json:"surname,omitempty"`
	Sponsor           string    `json:"sponsor"`
	CreatedBy         string    `json:"created_by"`
	Reason            string    `json:"reason"`
	State             string    `json:"state"`
	EndsAt            time.Time `json:"ends_at"`
	DeleteAt          time.Time `json:"delete_at"`
	CreatedAt         time.Time `json:"created_at"`
	DisabledAt        time.Time `json:"disabled_at,omitzero"`
	DeletedAt         time.Time `json:"deleted_at,omitzero"`
	EndReason         string    `json:"end_reason,omitempty"`
	PasswordDelivered bool      `json:"password_delivered"`
	Attempts          int       `json:"attempts,omitempty"`
	NextAttempt       time.Time `json:"next_attempt_at,omitzero"`
	LastError         string    `json:"last_error,omitempty"`
}

func accountJSON(a store.Account) Account {
	return Account{
		ID: a.ID, Directory: a.Directory, ExternalID: a.ExternalID, Login: a.Login, Email: a.Email, GivenName: a.GivenName, Surname: a.Surname,
		Sponsor: a.Sponsor, CreatedBy: a.CreatedBy, Reason: a.Reason, State: string(a.State), EndsAt: a.EndsAt, DeleteAt: a.DeleteAt,
		CreatedAt: a.CreatedAt, DisabledAt: a.DisabledAt, DeletedAt: a.DeletedAt, EndReason: a.EndReason, PasswordDelivered: a.PasswordDelivered,
		Attempts: a.Attempts, NextAttempt: a.NextAttempt, LastError: a.LastError,
	}
}

// CreateAccountRequest asks for an ephemeral account that ends at Until.
type CreateAccountRequest struct {
	Directory string    `json:"directory,omitempty"`
	Login     string    `json:"login"`
	Email     string    `json:"email,omitempty"`
	GivenName string    `json:"given_name,omitempty"`
	Surname   string    `json:"surname,omitempty"`
	Sponsor   string    `json:"sponsor"`
	Until     time.Time `json:"until"`
	Reason    string    `json:"reason"`
}

// CreatedAccount is a new account and its initial password, shown this once
// (absent when the directory took none).
type CreatedAccount struct {
	Account         Account `json:"account"`
	InitialPassword string  `json:"initial_password,omitempty"`
}

// ExtendAccountRequest moves an account's end date.
type ExtendAccountRequest struct {
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// AccountList is a page of accounts, newest first.
type AccountList struct {
	Accounts []Account `json:"accounts"`
}

func (s *Server) createAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req CreateAccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	c, err := s.accounts.Create(r.Context(), account.CreateRequest{Directory: req.Directory, Login: req.Login, Email: req.Email,
		GivenName: req.GivenName, Surname: req.Surname, Sponsor: req.Sponsor, Until: req.Until, Reason: req.Reason, Actor: p.Name})
	if err != nil {
		if c.Account.ID != "" && errors.Is(err, account.ErrDirectory) {
			return &Error{Status: http.StatusBadGateway, Code: CodeDirectory, Message: fmt.Sprintf("account %s recorded; %s", c.Account.ID, strings.TrimPrefix(err.Error(), account.ErrDirectory.Error()+": "))}
		}
		return err
	}
	w.Header().Set("Cache-Control", "no-store") // the initial password
	writeJSON(w, http.StatusCreated, CreatedAccount{Account: accountJSON(c.Account), InitialPassword: c.Password})
	return nil
}

// listAccounts lists accounts; sponsors who do not see everything see the
// accounts they sponsor.
func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := store.AccountFilter{Directory: q.Get("directory"), Sponsor: q.Get("sponsor"), Login: q.Get("login")}
	var err error
	if f.Limit, f.Offset, err = page(q, 1000, 1000); err != nil {
		return err
	}
	if !auth.SeesAll(p.Role) {
		if f.Sponsor != "" && !strings.EqualFold(f.Sponsor, p.Name) {
			return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("role %s may read only the accounts it sponsors", p.Role)}
		}
		f.Sponsor = p.Name
	}
	for _, st := range q["state"] {
		for _, one := range strings.Split(st, ",") {
			if !store.AccountState(one).Valid() {
				return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: fmt.Sprintf("unknown account state %q (one of %v)", one, store.AccountStates)}
			}
			f.States = append(f.States, store.AccountState(one))
		}
	}
	as, err := s.store.Accounts(r.Context(), f)
	if err != nil {
		return err
	}
	out := AccountList{Accounts: []Account{}}
	for _, a := range as {
		out.Accounts = append(out.Accounts, accountJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	a, err := s.accounts.Get(r.Context(), r.PathValue("id"))
	if err == nil && !auth.SeesAll(p.Role) && !strings.EqualFold(a.Sponsor, p.Name) {
		err = account.ErrNotFound // another sponsor's contractor is not there for them
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountJSON(a))
	return nil
}

// sponsors checks that p may change account id: admins may change any,
// sponsors (who make invites) the accounts they sponsor.
func (s *Server) sponsors(r *http.Request, p auth.Principal) error {
	if auth.Allowed(p.Role, auth.AccountWrite) {
		return nil
	}
	if auth.Allowed(p.Role, auth.InviteWrite) {
		a, err := s.accounts.Get(r.Context(), r.PathValue("id"))
		if err != nil && !errors.Is(err, account.ErrNotFound) {
			return err
		}
		if err == nil && strings.EqualFold(a.Sponsor, p.Name) {
			return nil
		}
	}
	return &Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: fmt.Sprintf("role %s may change only the accounts it sponsors", p.Role)}
}

func (s *Server) extendAccount(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req ExtendAccountRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.sponsors(r, p); err != nil {
		return err
	}
	a, err := s.accounts.Extend(r.Context(), r.PathValue("id"), req.Until, p.Name, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, accountJSON(a))
	return nil
}

func (s *Server) endAccount(deleteNow bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		var req RevokeRequest
		if err := decode(r, &req); err != nil {
			return err
		}
		if err := s.sponsors(r, p); err != nil {
			return err
		}
		end := s.accounts.Disable
		if deleteNow {
			end = s.accounts.Delete
		}
		a, err := end(r.Context(), r.PathValue("id"), p.Name, req.Reason)
		if err != nil && errors.Is(err, account.ErrDirectory) && a.ID != "" {
			// Recorded; the queue keeps trying. Say so, with the account.
			writeJSON(w, http.StatusAccepted, accountJSON(a))
			return nil
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, accountJSON(a))
		return nil
	}
}

// redactPassword drops the initial password from a stored create response:
// it is shown once, to the call that created the account.
func redactPassword(body []byte) []byte {
	var c CreatedAccount
	if json.Unmarshal(body, &c) != nil {
		return nil
	}
	c.InitialPassword = ""
	b, _ := json.Marshal(c)
	return b
}
