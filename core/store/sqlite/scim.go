package sqlite

import (
	"context"
	"slices"

	"github.com/jitd/jitd/core/store"
)

func (t *txn) SetSCIMResource(r store.SCIMResource) error {
	if r.ExternalID == "" && r.Attrs == "" {
		_, err := t.exec(`DELETE FROM scim_resources WHERE directory = ? AND kind = ? AND id = ?`, r.Directory, r.Kind, r.ID)
		return err
	}
	_, err := t.exec(`INSERT INTO scim_resources (directory, kind, id, external_id, attrs) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (directory, kind, id) DO UPDATE SET external_id = excluded.external_id, attrs = excluded.attrs`, r.Directory, r.Kind, r.ID, r.ExternalID, r.Attrs)
	return err
}

// SCIMResources reads what jitd keeps of ids, 500 at a time.
func (s *Store) SCIMResources(ctx context.Context, dir, kind string, ids []string) (map[string]store.SCIMResource, error) {
	out := map[string]store.SCIMResource{}
	for chunk := range slices.Chunk(ids, 500) {
		args := []any{dir, kind}
		marks := make([]byte, 0, 2*len(chunk))
		for i, id := range chunk {
			if i > 0 {
				marks = append(marks, ',')
			}
			marks = append(marks, '?')
			args = append(args, id)
		}
		rows, err := s.read.QueryContext(ctx, `SELECT id, external_id, attrs FROM scim_resources WHERE directory = ? AND kind = ? AND id IN (`+string(marks)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r := store.SCIMResource{Directory: dir, Kind: kind}
			if err := rows.Scan(&r.ID, &r.ExternalID, &r.Attrs); err != nil {
				rows.Close()
				return nil, err
			}
			out[r.ID] = r
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SCIMByExternalID finds the ids a client knows by externalID.
func (s *Store) SCIMByExternalID(ctx context.Context, dir, kind, externalID string) ([]string, error) {
	if externalID == "" {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id FROM scim_resources WHERE directory = ? AND kind = ? AND external_id = ? ORDER BY id`, dir, kind, externalID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
