package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	msgraphgocore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/directoryobjects"
	"github.com/microsoftgraph/msgraph-sdk-go/groups"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/jitd/jitd/connectors"
	"github.com/jitd/jitd/connectors/entra/entraconfig"
)

var _ connectors.MembershipManager = (*Conn)(nil)

// Graph takes at most 20 member references per PATCH and 20 requests per
// JSON batch.
const batchMax = 20

// prepare gives every user a result, marks ids that cannot exist as not
// found, and returns the indexes of the rest, each id once.
func prepare(userIDs []string) ([]connectors.MemberResult, []int) {
	results := make([]connectors.MemberResult, len(userIDs))
	var todo []int
	seen := map[string]bool{}
	for i, id := range userIDs {
		results[i].UserID = id
		switch {
		case !entraconfig.GUIDRE.MatchString(id):
			results[i].Err = fmt.Errorf("entra: user %q: %w", id, connectors.ErrNotFound)
		case !seen[strings.ToLower(id)]:
			seen[strings.ToLower(id)] = true
			todo = append(todo, i)
		}
	}
	return results, todo
}

func (c *Conn) objectRef(id string) string {
	return strings.TrimRight(c.cfg.GraphURL, "/") + "/v1.0/directoryObjects/" + id
}

// alreadyMember reports Graph's answer to adding a present member: a 400
// whose message is the only way it says so.
func alreadyMember(err error) bool {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) || oe.ResponseStatusCode != http.StatusBadRequest || oe.GetErrorEscaped() == nil {
		return false
	}
	return strings.Contains(str(oe.GetErrorEscaped().GetMessage()), "already exist")
}

// AddMembers adds users 20 at a time with members@odata.bind. A batch that
// Graph refuses because one user is already a member, or unknown, is done
// again one user at a time, where "already a member" is success.
func (c *Conn) AddMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	if err := c.grantable(ctx, groupID); err != nil {
		return nil, err
	}
	results, todo := prepare(userIDs)
	for chunk := range slices.Chunk(todo, batchMax) {
		refs := make([]string, len(chunk))
		for j, i := range chunk {
			refs[j] = c.objectRef(userIDs[i])
		}
		body := models.NewGroup()
		body.SetAdditionalData(map[string]any{"members@odata.bind": refs})
		_, err := c.graph.Groups().ByGroupId(groupID).Patch(ctx, body, nil)
		if err == nil {
			continue
		}
		if mapped := mapErr("add members to "+groupID, permMembership, err); !errors.Is(mapped, connectors.ErrInvalid) && !errors.Is(mapped, connectors.ErrNotFound) {
			return nil, mapped
		}
		for _, i := range chunk {
			ref := models.NewReferenceCreate()
			ref.SetOdataId(&refs[slices.Index(chunk, i)])
			err := c.graph.Groups().ByGroupId(groupID).Members().Ref().Post(ctx, ref, nil)
			switch mapped := mapErr("add "+userIDs[i]+" to "+groupID, permMembership, err); {
			case err == nil || alreadyMember(err):
			case errors.Is(mapped, connectors.ErrNotFound) || errors.Is(mapped, connectors.ErrInvalid):
				results[i].Err = mapped
			default:
				return nil, mapped
			}
		}
	}
	return results, nil
}

// RemoveMembers removes users with JSON batches of up to 20 DELETE
// .../members/{id}/$ref; a user who is not a member (404) is success.
func (c *Conn) RemoveMembers(ctx context.Context, groupID string, userIDs []string) ([]connectors.MemberResult, error) {
	if !entraconfig.GUIDRE.MatchString(groupID) {
		return nil, fmt.Errorf("entra: group %q: %w", groupID, connectors.ErrNotFound)
	}
	// A 404 on a removal means "not a member" only if the group exists.
	if _, err := c.graph.Groups().ByGroupId(groupID).Get(ctx, &groups.GroupItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &groups.GroupItemRequestBuilderGetQueryParameters{Select: []string{"id"}}}); err != nil {
		return nil, mapErr("read group "+groupID, permRead, err)
	}
	results, todo := prepare(userIDs)
	if c.cfg.NativeTTL == "pim" {
		// End the PIM assignment too, or PIM would put the member back.
		for _, i := range todo {
			err := c.assign(ctx, groupID, userIDs[i], time.Time{}, models.ADMINREMOVE_SCHEDULEREQUESTACTIONS)
			if err != nil && !errors.Is(err, connectors.ErrInvalid) && !errors.Is(err, connectors.ErrNotFound) {
				return nil, err
			}
		}
	}
	for chunk := range slices.Chunk(todo, batchMax) {
		if len(chunk) == 1 {
			i := chunk[0]
			err := c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(userIDs[i]).Ref().Delete(ctx, nil)
			switch mapped := mapErr("remove "+userIDs[i]+" from "+groupID, permMembership, err); {
			case err == nil || errors.Is(mapped, connectors.ErrNotFound):
			case errors.Is(mapped, connectors.ErrInvalid):
				results[i].Err = mapped
			default:
				return nil, mapped
			}
			continue
		}
		if err := c.removeBatch(ctx, groupID, userIDs, chunk, results); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// removeBatch sends one JSON batch of removals.
func (c *Conn) removeBatch(ctx context.Context, groupID string, userIDs []string, chunk []int, results []connectors.MemberResult) error {
	batch := msgraphgocore.NewBatchRequest(c.adapter)
	ids := map[string]int{}
	for _, i := range chunk {
		info, err := c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(userIDs[i]).Ref().ToDeleteRequestInformation(ctx, nil)
		if err != nil {
			return fmt.Errorf("entra: %w: %v", connectors.ErrInvalid, err)
		}
		item, err := batch.AddBatchRequestStep(*info)
		if err != nil {
			return fmt.Errorf("entra: %w: %v", connectors.ErrInvalid, err)
		}
		ids[str(item.GetId())] = i
	}
	resp, err := batch.Send(ctx, c.adapter)
	if err != nil {
		return mapErr("remove members from "+groupID, permMembership, err)
	}
	var systemic error
	for _, item := range resp.GetResponses() {
		i, ok := ids[str(item.GetId())]
		if !ok || item.GetStatus() == nil {
			continue
		}
		status := int(*item.GetStatus())
		switch {
		case status < 300 || status == http.StatusNotFound:
		case status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout:
			wait := retryAfter(item.GetHeaders()["Retry-After"], 0)
			if wait == 0 {
				wait = retryAfter(item.GetHeaders()["retry-after"], time.Minute)
			}
			systemic = fmt.Errorf("entra: remove members from %s: %w", groupID, &connectors.RateLimitError{Wait: wait, Msg: "Graph throttled a batched removal"})
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			systemic = fmt.Errorf("entra: remove members from %s: %w: jitd's app lacks the Graph application permission %s (HTTP %d); grant it with admin consent", groupID, connectors.ErrPermission, permMembership, status)
		case status >= 500:
			systemic = fmt.Errorf("entra: remove members from %s: %w: HTTP %d", groupID, connectors.ErrUnavailable, status)
		default:
			results[i].Err = fmt.Errorf("entra: remove %s from %s: %w: HTTP %d", userIDs[i], groupID, connectors.ErrInvalid, status)
		}
	}
	return systemic
}

// IsMember asks Graph whether the user is in the group, directly or through
// nested groups (checkMemberGroups is transitive): a user who already has the
// access is not given a second, direct membership.
func (c *Conn) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	if !entraconfig.GUIDRE.MatchString(userID) {
		return false, fmt.Errorf("entra: user %q: %w", userID, connectors.ErrNotFound)
	}
	if !entraconfig.GUIDRE.MatchString(groupID) {
		return false, fmt.Errorf("entra: group %q: %w", groupID, connectors.ErrNotFound)
	}
	body := directoryobjects.NewItemCheckMemberGroupsPostRequestBody()
	body.SetGroupIds([]string{groupID})
	resp, err := c.graph.DirectoryObjects().ByDirectoryObjectId(userID).CheckMemberGroups().PostAsCheckMemberGroupsPostResponse(ctx, body, nil)
	if err != nil {
		return false, mapErr("check membership of "+userID, permRead, err)
	}
	return slices.ContainsFunc(resp.GetValue(), func(id string) bool { return strings.EqualFold(id, groupID) }), nil
}
