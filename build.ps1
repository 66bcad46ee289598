#!/usr/bin/env pwsh
<#
.SYNOPSIS
  MtkdRl tasks beyond the README's two commands. PowerShell comes from the .NET tool manifest:
    dotnet tool restore
    dotnet pwsh build.ps1 <task> [options]

.DESCRIPTION
  build      dotnet build of the solution (native/ through CMake, kernels/ to PTX, all C#)
  test       the README's test command
  ptx        only compile kernels/*.cu to PTX (clang-14, or nvcc where present) into artifacts/ptx/
  bench      kernel benchmarks: `mtkd bench kernels` on every backend, then the PyTorch step in the same
             session (default and tuned malloc), with the speed-up table; results in artifacts/bench/
  bench-paired  the PyTorch step and the native op timed in alternation in one process, round by round
             (benchmarks/torch_distill.py --paired, tuned malloc; -Simd 0 auto, 2 AVX2, 3 AVX-512): speed-ups
             as medians of each round's own ratio, steadier than `bench` on a machine whose speed drifts
  bench-dotnet  BenchmarkDotNet benchmarks of the managed API (benchmarks/MtkdRl.Benchmarks)
  publish    self-contained single-file `mtkd` for linux-x64 with libmtkd_native.so beside it, into
             artifacts/publish/ (or -Out DIR, e.g. artifacts/gpu for a GPU machine without .NET); without
             debug symbols, ONNX Runtime's library (ONNX teachers) and the plotting libraries unless -Full, so
             the GPU check's files and the working tree fit the 64 MiB that travel to a GPU machine
  info       mtkd info
#>
param(
  [Parameter(Position = 0)]
  [ValidateSet('build', 'test', 'ptx', 'bench', 'bench-paired', 'bench-dotnet', 'publish', 'info')]
  [string]$Task = 'build',
  [string]$Configuration = 'Release',
  [string]$Out = '',
  [string]$Shapes = '256,4,100,256;256,16,100,256;1024,8,1000,512;256,64,100,128',
  [int]$Repeat = 50,
  [string]$Backend = 'all',
  [int]$Simd = 0,
  [switch]$Full
)

$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
Set-Location $root

function Invoke-Checked([string]$exe, [string[]]$arguments) {
  Write-Host "> $exe $($arguments -join ' ')" -ForegroundColor DarkGray
  & $exe @arguments
  if ($LASTEXITCODE -ne 0) { throw "$exe exited with code $LASTEXITCODE" }
}

$cli = Join-Path $root "src/MtkdRl.Cli/bin/$Configuration/net10.0/mtkd.dll"

switch ($Task) {
  'build' { Invoke-Checked dotnet @('build', 'MtkdRl.Native.sln', '-c', $Configuration) }
  'test' { Invoke-Checked dotnet @('test', 'MtkdRl.Native.sln', '-c', $Configuration) }
  'ptx' {
    $bin = Join-Path $root 'artifacts/cmake/kernels'
    Invoke-Checked cmake @('-S', (Join-Path $root 'kernels'), '-B', $bin, '-DCMAKE_BUILD_TYPE=Release', "-DMTKD_ARTIFACTS=$(Join-Path $root 'artifacts')/")
    Invoke-Checked cmake @('--build', $bin, '--target', 'mtkd_ptx')
    Get-ChildItem (Join-Path $root 'artifacts/ptx') -Filter *.ptx | ForEach-Object { Write-Host "  $($_.FullName) ($($_.Length) bytes)" }
  }
  'bench' {
    Invoke-Checked dotnet @('build', 'src/MtkdRl.Cli', '-c', $Configuration)
    $dir = Join-Path $root 'artifacts/bench'
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    $mtkdJson = Join-Path $dir 'kernels.json'
    Invoke-Checked dotnet @($cli, 'bench', 'kernels', '--backend', $Backend, '--shape', $Shapes, '--repeat', "$Repeat", '--json', $mtkdJson)
    $python = if (Test-Path /usr/bin/python3) { '/usr/bin/python3' } else { 'python3' }
    $torchShapes = $Shapes -split ';'
    Write-Host "`nPyTorch, default allocator:"
    Invoke-Checked $python (@('benchmarks/torch_distill.py', '--repeat', "$Repeat", '--json', (Join-Path $dir 'torch.json'), '--mtkd-json', $mtkdJson, '--label', 'default-malloc', '--shape') + $torchShapes)
    Write-Host "`nPyTorch, allocator tuned to keep freed memory (no page faults from returned temporaries):"
    $env:MALLOC_MMAP_MAX_ = '0'; $env:MALLOC_TRIM_THRESHOLD_ = '1073741824'; $env:MALLOC_TOP_PAD_ = '268435456'
    try {
      Invoke-Checked $python (@('benchmarks/torch_distill.py', '--repeat', "$Repeat", '--json', (Join-Path $dir 'torch-tuned.json'), '--mtkd-json', $mtkdJson, '--label', 'tuned-malloc', '--shape') + $torchShapes)
    }
    finally {
      Remove-Item Env:MALLOC_MMAP_MAX_, Env:MALLOC_TRIM_THRESHOLD_, Env:MALLOC_TOP_PAD_ -ErrorAction SilentlyContinue
    }
  }
  'bench-paired' {
    Invoke-Checked dotnet @('build', 'src/MtkdRl.Cli', '-c', $Configuration)
    $dir = Join-Path $root 'artifacts/bench'
    New-Item -ItemType Directory -Force -Path $dir | Out-Null
    $python = if (Test-Path /usr/bin/python3) { '/usr/bin/python3' } else { 'python3' }
    $env:MALLOC_MMAP_MAX_ = '0'; $env:MALLOC_TRIM_THRESHOLD_ = '1073741824'; $env:MALLOC_TOP_PAD_ = '268435456'
    try {
      Invoke-Checked $python (@('benchmarks/torch_distill.py', '--paired', (Join-Path $root 'artifacts/native/libmtkd_native.so'), '--simd', "$Simd", '--repeat', "$Repeat", '--json', (Join-Path $dir "paired-simd$Simd.json"), '--shape') + ($Shapes -split ';'))
    }
    finally {
      Remove-Item Env:MALLOC_MMAP_MAX_, Env:MALLOC_TRIM_THRESHOLD_, Env:MALLOC_TOP_PAD_ -ErrorAction SilentlyContinue
    }
  }
  'bench-dotnet' {
    Invoke-Checked dotnet @('run', '--project', 'benchmarks/MtkdRl.Benchmarks', '-c', 'Release', '--', '--filter', '*')
  }
  'publish' {
    $dest = if ($Out) { $Out } else { Join-Path $root 'artifacts/publish' }
    # A rerun must not keep what an earlier one left (a library this one leaves out, stale symbols).
    if (Test-Path $dest) { Remove-Item -Recurse -Force $dest }
    Invoke-Checked dotnet @('publish', 'src/MtkdRl.Cli', '-c', 'Release', '-r', 'linux-x64', '--self-contained',
      '-p:PublishSingleFile=true', '-p:EnableCompressionInSingleFile=true', '-p:DebugType=none', '-o', $dest)
    if (-not $Full) {
      # Loaded only when used: ONNX Runtime for ONNX teachers, Skia and HarfBuzz for plots. The GPU check needs neither.
      foreach ($lib in @('libonnxruntime*.so', 'libSkiaSharp.so', 'libHarfBuzzSharp.so')) { Get-ChildItem $dest -Filter $lib | Remove-Item }
      Write-Host "  ONNX Runtime and the plotting libraries left out (ONNX teachers and plots need them: publish -Full)"
    }
    # The PTX is embedded in mtkd; the files beside it are for ptxas, cuobjdump and ncu on the GPU machine.
    $ptxDest = Join-Path $dest 'ptx'
    New-Item -ItemType Directory -Force -Path $ptxDest | Out-Null
    Copy-Item (Join-Path $root 'artifacts/ptx/*.ptx') $ptxDest
    # Which source this is: the GPU check reports it (a copy of the tree on another machine may carry an older .git).
    $commit = (& git -C $root rev-parse --short HEAD 2>$null)
    if (-not $commit) { $commit = 'unknown' }
    elseif (& git -C $root status --porcelain --untracked-files=no 2>$null) { $commit = "$commit with uncommitted changes" }
    Set-Content -Path (Join-Path $dest 'build.txt') -Value @("commit: $commit", "published: $((Get-Date).ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ'))")
    foreach ($required in @('mtkd', 'libmtkd_native.so', 'ptx/distill.ptx', 'build.txt')) {
      if (-not (Test-Path (Join-Path $dest $required))) { throw "publish: $required is missing from $dest" }
    }
    $files = Get-ChildItem $dest -Recurse -File
    $files | ForEach-Object { Write-Host "  $([IO.Path]::GetRelativePath($dest, $_.FullName)) ($([math]::Round($_.Length / 1MB, 1)) MB)" }
    # What travels to a GPU machine beside the working tree is limited to 64 MiB.
    $total = ($files | Measure-Object -Property Length -Sum).Sum
    Write-Host "  total $([math]::Round($total / 1MB, 1)) MiB"
    if (-not $Full -and $total -gt 50MB) { throw "publish: $dest holds $([math]::Round($total / 1MB, 1)) MiB, over the 50 MiB that leave the working tree room in the 64 MiB that travel" }
  }
  'info' {
    Invoke-Checked dotnet @('build', 'src/MtkdRl.Cli', '-c', $Configuration)
    Invoke-Checked dotnet @($cli, 'info')
  }
}
