package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	abstractions "github.com/microsoft/kiota-abstractions-go"
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
	if c.cfg.NativeTTL == "pim" && len(todo) > 0 {
		// End the PIM assignment too, or PIM would put the member back.
		if err := c.endAssignments(ctx, groupID, userIDs, todo); err != nil {
			return nil, err
		}
	}
	if len(todo) == 1 {
		i := todo[0]
		err := c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(userIDs[i]).Ref().Delete(ctx, nil)
		switch mapped := mapErr("remove "+userIDs[i]+" from "+groupID, permMembership, err); {
		case err == nil || errors.Is(mapped, connectors.ErrNotFound):
		case errors.Is(mapped, connectors.ErrInvalid):
			results[i].Err = mapped
		default:
			return nil, mapped
		}
		return results, nil
	}
	reqs, err := requests(todo, func(i int) (*abstractions.RequestInformation, error) {
		return c.graph.Groups().ByGroupId(groupID).Members().ByDirectoryObjectId(userIDs[i]).Ref().ToDeleteRequestInformation(ctx, nil)
	})
	if err != nil {
		return nil, err
	}
	err = c.batched(ctx, "remove members from "+groupID, permMembership, reqs, func(j int, a answer) error {
		if i := todo[j]; !a.ok() && a.Status != http.StatusNotFound {
			results[i].Err = fmt.Errorf("entra: remove %s from %s: %w: HTTP %d", userIDs[i], groupID, connectors.ErrInvalid, a.Status)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
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
