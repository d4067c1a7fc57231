package reports

import "slices"

// Shapes lists what a report can be composed of, for the test that sends
// every shape (shapes_test.go): the dimensions (event and session ones),
// the filter operators, the metrics and the intervals of a series.
func Shapes() (dimensions, ops, metricNames, intervalNames []string) {
	for k := range dims {
		dimensions = append(dimensions, k)
	}
	for k := range sessionDims {
		dimensions = append(dimensions, k)
	}
	for k := range metrics {
		metricNames = append(metricNames, k)
	}
	for k := range intervals {
		intervalNames = append(intervalNames, k)
	}
	slices.Sort(dimensions)
	slices.Sort(metricNames)
	slices.Sort(intervalNames)
	return dimensions, slices.Clone(filterOps), metricNames, intervalNames
}

// SetExactBelow sets the visitor count from which reports sketch visitors
// and returns what undoes it.
func SetExactBelow(n uint64) (undo func()) {
	old := exactBelow
	exactBelow = n
	return func() { exactBelow = old }
}

// SetUseRollups says whether breakdowns may read the rollups and returns
// what undoes it.
func SetUseRollups(on bool) (undo func()) {
	old := useRollups
	useRollups = on
	return func() { useRollups = old }
}

// RolledStates are the rollups' state columns and the expressions of
// their states, for the test that checks migration 0032 against them.
func RolledStates() map[string]string {
	out := map[string]string{}
	for _, m := range rolledMetrics {
		out[stateColumn(m)] = stateOf(m)
	}
	return out
}
