<#
.SYNOPSIS
  Build dentsend for Windows: PyInstaller folder, self-test, optional signing, Inno Setup installer.

.DESCRIPTION
  Run from any folder, in Windows PowerShell 5.1 or PowerShell 7:
    installer\windows\build_windows.ps1                      unsigned
    installer\windows\build_windows.ps1 -Sign -Thumbprint <certificate thumbprint>
  Needs: Python 3.11+ x64 with `pip install -e .[build]` (default interpreter .venv\Scripts\python.exe),
  Inno Setup 6.3 or later (iscc.exe), and for -Sign the Windows SDK's signtool.exe.
  Results: dist\dentsend\ (dentsend.exe for the command line, dentsend-gui.exe for the desktop),
  dist\dentsend-<version>-windows-x64-setup.exe and its .sha256.
#>
[CmdletBinding()]
param(
    [string] $Python = ".venv\Scripts\python.exe",
    [switch] $Sign,
    [string] $Thumbprint = $env:DENTSEND_SIGN_THUMBPRINT,
    [string] $Iscc = ""
)
Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"
$repo = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $repo

function Invoke-Checked([string] $What, [scriptblock] $Command) {
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$What failed ($LASTEXITCODE)" }
}

Invoke-Checked "icon check" { & $Python installer\make_icons.py --check }
Invoke-Checked "PyInstaller" {
    & $Python -m PyInstaller installer\dentsend.spec --noconfirm --clean --distpath dist --workpath build
}

# Smoke test: the console program prints; the self-test opens the window offscreen.
Invoke-Checked "dentsend --version" { & dist\dentsend\dentsend.exe --version }
$env:QT_QPA_PLATFORM = "offscreen"
Invoke-Checked "dentsend --self-test" { & dist\dentsend\dentsend.exe --self-test }
Remove-Item Env:\QT_QPA_PLATFORM

$signScript = Join-Path $PSScriptRoot "sign.ps1"
if ($Sign) {
    & $signScript -Path dist\dentsend -Thumbprint $Thumbprint
}

if (-not $Iscc) {
    $command = Get-Command iscc.exe -ErrorAction SilentlyContinue
    if ($command) {
        $Iscc = $command.Source
    } else {
        $Iscc = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
                  "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe") |
            Where-Object { Test-Path $_ } | Select-Object -First 1
    }
    if (-not $Iscc) { throw "ISCC.exe not found: install Inno Setup 6.3+ or pass -Iscc" }
}
$issArgs = @()
if ($Sign) {
    # Inno Setup replaces $f with the quoted name of each file to sign (setup and uninstaller)
    # and $q with a quote; single quotes keep PowerShell from expanding them.
    $signCommand = 'powershell.exe -NoProfile -ExecutionPolicy Bypass -File $q' + $signScript + '$q -Thumbprint ' + $Thumbprint + ' -Path $f'
    $issArgs += @("/DSIGN", "/Sdentsend=$signCommand")
}
Invoke-Checked "Inno Setup" { & $Iscc @issArgs installer\windows\dentsend.iss }

$setup = Get-ChildItem dist\dentsend-*-windows-x64-setup.exe | Sort-Object LastWriteTime -Descending | Select-Object -First 1
$hash = (Get-FileHash $setup.FullName -Algorithm SHA256).Hash.ToLower()
"$hash  $($setup.Name)" | Out-File -Encoding ascii "$($setup.FullName).sha256"
Write-Host "build_windows: $($setup.FullName)"
