module github.com/flockmq/flockmq/pkg/pluginsdk

go 1.26.0
