package entra

import (
	"context"
	"errors"
	"fmt"
	"time"

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
	_, err := c.graph.IdentityGovernance().PrivilegedAccess().Group().AssignmentScheduleRequests().Post(ctx, req, nil)
	return mapErr("PIM assignment ("+action.String()+") of "+userID+" to "+groupID, permPIM, err)
}
