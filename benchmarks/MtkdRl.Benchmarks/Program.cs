using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(MtkdRl.Benchmarks.DistillOpBenchmarks).Assembly).Run(args);
