package entra

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	abstractions "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/identitygovernance"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/jitd/jitd/connectors"
)

// With native_ttl: pim, each grant is also a time-bound PIM for Groups
// assignment (identityGovernance/privilegedAccess/group), which Entra ends on
// its own at the grant's end even if jitd is gone. jitd still removes the
// membership itself.

var _ connectors.ExpiringMembershipManager = (*Conn)(nil)

// AddMembersUntil assigns each user to the group through PIM until until.
// A user who already has an assignment gets its end moved (adminUpdate).
func (c *Conn) AddMembersUntil(ctx context.Context, groupID string, userIDs []string, until time.Time) ([]connectors.MemberResult, error) {
	if c.cfg.NativeTTL != "pim" {
		return nil, fmt.Errorf("entra: native_ttl: pim is not configured: %w", connectors.ErrInvalid)
	}
	if err := c.grantable(ctx, groupID); err != nil {
		return nil, err
	}
	results, todo := prepare(userIDs)
	for _, i := range todo {
		err := c.assign(ctx, groupID, userIDs[i], until, models.ADMINASSIGN_SCHEDULEREQUESTACTIONS)
		if err != nil && errors.Is(err, connectors.ErrInvalid) {
			// Already assigned: move its end instead.
			err = c.assign(ctx, groupID, userIDs[i], until, models.ADMINUPDATE_SCHEDULEREQUESTACTIONS)
		}
		switch {
		case err == nil:
		case errors.Is(err, connectors.ErrNotFound) || errors.Is(err, connectors.ErrInvalid):
			results[i].Err = err
		default:
			return nil, err
		}
	}
	return results, nil
}

func (c *Conn) assign(ctx context.Context, groupID, userID string, until time.Time, action models.ScheduleRequestActions) error {
	_, err := c.graph.IdentityGovernance().PrivilegedAccess().Group().AssignmentScheduleRequests().Post(ctx, scheduleRequest(groupID, userID, until, action), nil)
	return mapErr("PIM assignment ("+action.String()+") of "+userID+" to "+groupID, permPIM, err)
}

// endAssignments ends the PIM assignments to a group of the users at todo
// that have one: it lists the group's assignments (one request a page;
// they are few, each a live grant) and sends adminRemove only for those
// users, in JSON batches, instead of one request for every user removed.
func (c *Conn) endAssignments(ctx context.Context, groupID string, userIDs []string, todo []int) error {
	pim := c.graph.IdentityGovernance().PrivilegedAccess().Group()
	filter := "groupId eq " + odataQuote(groupID)
	resp, err := pim.AssignmentSchedules().Get(ctx, &identitygovernance.PrivilegedAccessGroupAssignmentSchedulesRequestBuilderGetRequestConfiguration{
		QueryParameters: &identitygovernance.PrivilegedAccessGroupAssignmentSchedulesRequestBuilderGetQueryParameters{Filter: &filter, Select: []string{"id", "principalId", "accessId"}}})
	has := map[string]bool{}
	for {
		if err != nil {
			return mapErr("read PIM assignments to "+groupID, permPIM, err)
		}
		for _, a := range resp.GetValue() {
			if a.GetAccessId() == nil || *a.GetAccessId() == models.MEMBER_PRIVILEGEDACCESSGROUPRELATIONSHIPS {
				has[strings.ToLower(str(a.GetPrincipalId()))] = true
			}
		}
		next := resp.GetOdataNextLink()
		if next == nil {
			break
		}
		resp, err = pim.AssignmentSchedules().WithUrl(*next).Get(ctx, nil)
	}
	var assigned []int
	for _, i := range todo {
		if has[strings.ToLower(userIDs[i])] {
			assigned = append(assigned, i)
		}
	}
	ends, err := requests(assigned, func(i int) (*abstractions.RequestInformation, error) {
		return pim.AssignmentScheduleRequests().ToPostRequestInformation(ctx, scheduleRequest(groupID, userIDs[i], time.Time{}, models.ADMINREMOVE_SCHEDULEREQUESTACTIONS), nil)
	})
	if err != nil {
		return err
	}
	// A 4xx for one user (the assignment ended meanwhile) leaves the
	// membership removal that follows to do the rest.
	return c.batched(ctx, "end PIM assignments to "+groupID, permPIM, ends, func(int, answer) error { return nil })
}

// scheduleRequest is a PIM for Groups member assignment request.
func scheduleRequest(groupID, userID string, until time.Time, action models.ScheduleRequestActions) models.PrivilegedAccessGroupAssignmentScheduleRequestable {
	req := models.NewPrivilegedAccessGroupAssignmentScheduleRequest()
	member := models.MEMBER_PRIVILEGEDACCESSGROUPRELATIONSHIPS
	req.SetAccessId(&member)
	req.SetAction(&action)
	req.SetGroupId(&groupID)
	req.SetPrincipalId(&userID)
	why := "jitd: grant ended"
	if !until.IsZero() {
		why = "jitd grant, ends " + until.UTC().Format(time.RFC3339)
	}
	req.SetJustification(&why)
	if action != models.ADMINREMOVE_SCHEDULEREQUESTACTIONS {
		start, end := time.Now().UTC(), until.UTC()
		exp := models.NewExpirationPattern()
		kind := models.AFTERDATETIME_EXPIRATIONPATTERNTYPE
		exp.SetTypeEscaped(&kind)
		exp.SetEndDateTime(&end)
		sched := models.NewRequestSchedule()
		sched.SetStartDateTime(&start)
		sched.SetExpiration(exp)
		req.SetScheduleInfo(sched)
	}
	return req
}
