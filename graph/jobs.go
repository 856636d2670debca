package graph

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/graph/model"
	"github.com/orchardmdm/orchard/store/events"
)

const jobCursor = "job"

func (r *Resolver) listJobs(ctx context.Context, filter *model.JobFilter, first *int, after *string) (*model.JobConnection, error) {
	p, err := page(jobCursor, first, after)
	if err != nil {
		return nil, err
	}
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(p.First + 1)
	if p.After != 0 {
		params = params.Where("id < @after", river.NamedArgs{"after": p.After})
	}
	var kind, state string
	if filter != nil && filter.Kind != nil {
		kind = *filter.Kind
		if err := checkFilterTexts(map[string]string{"kind": kind}); err != nil {
			return nil, err
		}
		params = params.Kinds(kind)
	}
	if filter != nil && filter.State != nil {
		state = strings.ToLower(string(*filter.State))
		params = params.States(rivertype.JobState(state))
	}
	res, err := r.Jobs.JobList(ctx, params)
	if err != nil {
		return nil, err
	}
	list := res.Jobs
	more := len(list) > p.First
	if more {
		list = list[:p.First]
	}
	conn := &model.JobConnection{Edges: make([]*model.JobEdge, len(list)), Kind: kind, State: state}
	var last int64
	for i, j := range list {
		last = j.ID
		conn.Edges[i] = &model.JobEdge{Cursor: encodeCursor(jobCursor, j.ID), Node: j}
	}
	conn.PageInfo = pageInfo(jobCursor, more, last, len(list) == 0)
	return conn, nil
}

func (r *Resolver) job(ctx context.Context, id string) (*rivertype.JobRow, error) {
	n, err := parseID("job", id)
	if err != nil {
		return nil, err
	}
	j, err := r.Jobs.JobGet(ctx, n)
	if errors.Is(err, rivertype.ErrNotFound) {
		return nil, nil
	}
	return j, err
}

// jobEvents streams job events from the broker, reading each job's current
// state so subscribers get what GraphQL queries would return.
func (r *Resolver) jobEvents(ctx context.Context, kinds []string, ids []string) (<-chan *model.JobEvent, error) {
	wantIDs := make([]int64, 0, len(ids))
	for _, id := range ids {
		n, err := parseID("job", id)
		if err != nil {
			return nil, err
		}
		wantIDs = append(wantIDs, n)
	}
	return subscribe(ctx, r.Events, events.TopicJob, func(ev events.Event) (*model.JobEvent, bool) {
		if (len(kinds) > 0 && !slices.Contains(kinds, ev.Kind)) || (len(wantIDs) > 0 && !slices.Contains(wantIDs, ev.ID)) {
			return nil, false
		}
		job, err := r.Jobs.JobGet(ctx, ev.ID)
		if err != nil {
			return nil, false // deleted in the meantime, or ctx ended
		}
		return &model.JobEvent{Type: ev.Type, Job: job}, true
	}), nil
}

func jobState(j *rivertype.JobRow) model.JobState {
	return model.JobState(strings.ToUpper(string(j.State)))
}

func jobArgs(j *rivertype.JobRow) (any, error) {
	var v any
	if err := json.Unmarshal(j.EncodedArgs, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// jobOutput is what the job recorded when it finished or, while it runs, its
// last progress report (River keeps both as the output).
func jobOutput(j *rivertype.JobRow) (any, error) {
	var meta map[string]json.RawMessage
	if len(j.Metadata) == 0 {
		return nil, nil
	}
	if err := json.Unmarshal(j.Metadata, &meta); err != nil {
		return nil, err
	}
	raw, ok := meta["output"]
	if !ok {
		return nil, nil
	}
	var v any
	err := json.Unmarshal(raw, &v)
	return v, err
}

func jobErrors(j *rivertype.JobRow) []string {
	out := make([]string, len(j.Errors))
	for i, e := range j.Errors {
		out[i] = e.Error
	}
	return out
}
