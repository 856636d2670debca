package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"

	"github.com/orchardmdm/orchard/jobs/jobargs"
	"github.com/orchardmdm/orchard/store/events"
)

func TestJobEventsStreamToSubscribers(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	api := newTestAPI(t)
	tok := api.token("mdm.view_job")

	sub := api.subscribe(ctx, tok, `subscription { jobEvents(kinds: ["token_cleanup"]) { type job { id kind state output } } }`, nil)
	inserted, err := api.river.Insert(ctx, jobargs.TokenCleanup{}, nil)
	must(t, err)
	waitJobState(ctx, t, api, inserted.Job.ID, rivertype.JobStateCompleted)
	// The server registers the subscription asynchronously, so the job's own
	// event may have passed before; announce it again until it arrives.
	// (jobs' tests show River outcomes reach the broker.)
	go func() {
		for ctx.Err() == nil {
			_ = events.Publish(ctx, api.store.Pool(), events.Event{Topic: events.TopicJob, Type: "completed", ID: inserted.Job.ID, Kind: "token_cleanup"})
			time.Sleep(100 * time.Millisecond)
		}
	}()
	res := sub.next(ctx)
	var ev struct {
		JobEvents struct {
			Type string
			Job  struct {
				ID, Kind, State string
				Output          map[string]any
			}
		}
	}
	res.decode(t, &ev)
	if ev.JobEvents.Type != "completed" || ev.JobEvents.Job.Kind != "token_cleanup" || ev.JobEvents.Job.State != "COMPLETED" {
		t.Fatalf("event = %+v", ev.JobEvents)
	}
	if _, ok := ev.JobEvents.Job.Output["deleted"]; !ok {
		t.Fatalf("job output missing: %+v", ev.JobEvents.Job)
	}

	var list struct {
		Jobs struct {
			Edges []struct{ Node struct{ ID, Kind string } }
		}
	}
	api.query(tok, `{ jobs(filter: {kind: "token_cleanup"}) { edges { node { id kind } } } }`, nil).decode(t, &list)
	if len(list.Jobs.Edges) != 1 || list.Jobs.Edges[0].Node.ID != ev.JobEvents.Job.ID {
		t.Fatalf("jobs = %+v, event job %s", list.Jobs, ev.JobEvents.Job.ID)
	}
}

func waitJobState(ctx context.Context, t *testing.T, api *testAPI, id int64, want rivertype.JobState) {
	t.Helper()
	for {
		job, err := api.river.JobGet(ctx, id)
		must(t, err)
		if job.State == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("job %d is %s, never %s", id, job.State, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
