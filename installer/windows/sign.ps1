<#
.SYNOPSIS
  Authenticode-sign dentsend's executables and libraries (optional release step).

.DESCRIPTION
  Signs every .exe, .dll and .pyd under the given paths that is not already validly signed (Qt's
  and Python's own DLLs usually are), with SHA-256 file digests and an RFC 3161 timestamp, so the
  signature stays valid after the certificate expires. Signed files earn SmartScreen reputation
  and upset antivirus tools less than unsigned PyInstaller folders do.

  The exact command it runs, for one file, is:
    signtool sign /fd SHA256 /tr <TimestampUrl> /td SHA256 /sha1 <Thumbprint> <file>
  (or /f <pfx> /p <password> instead of /sha1 for a certificate in a .pfx file).

  Code-signing keys issued since June 2023 live on a hardware token or in a cloud HSM: install the
  vendor's CSP/KSP so the certificate appears in the user's certificate store, and pass its
  thumbprint (certmgr.msc > Personal > Certificates > Details > Thumbprint).

.EXAMPLE
  installer\windows\sign.ps1 -Path dist\dentsend -Thumbprint 0123456789ABCDEF0123456789ABCDEF01234567
.EXAMPLE
  installer\windows\sign.ps1 -Path dist\dentsend-0.1.0-windows-x64-setup.exe
  (thumbprint from $env:DENTSEND_SIGN_THUMBPRINT)
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true)] [string[]] $Path,
    [string] $Thumbprint = $env:DENTSEND_SIGN_THUMBPRINT,
    [string] $PfxFile = $env:DENTSEND_SIGN_PFX,
    [string] $PfxPassword = $env:DENTSEND_SIGN_PFX_PASSWORD,
    [string] $TimestampUrl = $(if ($env:DENTSEND_TIMESTAMP_URL) { $env:DENTSEND_TIMESTAMP_URL } else { "http://timestamp.digicert.com" }),
    [string] $SignTool = "signtool.exe"
)
Set-StrictMode -Version Latest
$ErrorActionPreference = "Stop"

if (-not (Get-Command $SignTool -ErrorAction SilentlyContinue)) {
    # The Windows SDK does not put signtool on PATH; take the newest x64 one.
    $found = Get-ChildItem "${env:ProgramFiles(x86)}\Windows Kits\10\bin\*\x64\signtool.exe" -ErrorAction SilentlyContinue |
        Sort-Object FullName -Descending | Select-Object -First 1
    if (-not $found) { throw "signtool.exe not found: install the Windows SDK's signing tools" }
    $SignTool = $found.FullName
}

if ($Thumbprint) {
    $identity = @("/sha1", $Thumbprint)
} elseif ($PfxFile) {
    $identity = @("/f", $PfxFile)
    if ($PfxPassword) { $identity += @("/p", $PfxPassword) }
} else {
    throw "no certificate: pass -Thumbprint (or set DENTSEND_SIGN_THUMBPRINT) or -PfxFile"
}

$files = foreach ($item in $Path) {
    if (Test-Path $item -PathType Container) {
        Get-ChildItem $item -Recurse -File -Include *.exe, *.dll, *.pyd
    } else {
        Get-Item $item
    }
}
$unsigned = @($files | Where-Object { (Get-AuthenticodeSignature $_.FullName).Status -ne "Valid" })
Write-Host "sign: $($unsigned.Count) of $(@($files).Count) files need a signature"

# signtool takes many files per call; batches keep the command line under Windows' limit.
$batch = 40
for ($i = 0; $i -lt $unsigned.Count; $i += $batch) {
    $chunk = $unsigned[$i..([Math]::Min($i + $batch, $unsigned.Count) - 1)] | ForEach-Object { $_.FullName }
    & $SignTool sign /fd SHA256 /tr $TimestampUrl /td SHA256 @identity $chunk
    if ($LASTEXITCODE -ne 0) { throw "signtool sign failed ($LASTEXITCODE)" }
}
foreach ($file in $unsigned) {
    & $SignTool verify /pa /q $file.FullName
    if ($LASTEXITCODE -ne 0) { throw "signature of $($file.Name) does not verify" }
}
Write-Host "sign: done"
