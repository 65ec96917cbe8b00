; Inno Setup 6 script: a per-user installer for dentsend (no administrator rights needed).
; Kept to plain ASCII: Inno Setup reads a file without a byte-order mark in the ANSI code page.
;
;   iscc installer\windows\dentsend.iss                       (after PyInstaller built dist\dentsend)
;   iscc /DSIGN "/Sdentsend=..." installer\windows\dentsend.iss     signed: see build_windows.ps1
;
; Installs the PyInstaller folder to %LOCALAPPDATA%\Programs\dentsend, adds a Start-menu entry, an
; uninstaller (Settings > Apps), "Send with dentsend" in Explorer's right-click menu and in
; "Open with" for radiograph files, all under HKEY_CURRENT_USER, and optionally a "Send to" entry,
; a desktop icon and the command-line program on PATH.
;
; The version is read from dist\dentsend\dentsend.exe, whose version resource PyInstaller wrote
; from dentsend.__version__, so this file never needs editing for a release.

#ifndef DistDir
  #define DistDir AddBackslash(SourcePath) + "..\..\dist\dentsend"
#endif
#if !FileExists(DistDir + "\dentsend.exe")
  #error dist\dentsend\dentsend.exe is missing: build it first with pyinstaller installer\dentsend.spec
#endif
#define AppVersion GetFileProductVersionString(DistDir + "\dentsend.exe")
#define AppVersionNumbers GetVersionNumbersString(DistDir + "\dentsend.exe")
#define AppExe "dentsend-gui.exe"
#define CliExe "dentsend.exe"
#define ProgId "dentsend.radiograph"

; The file types "Send with dentsend" and "Open with" offer dentsend for.
#dim Extensions[7]
#define Extensions[0] ".dcm"
#define Extensions[1] ".jpg"
#define Extensions[2] ".jpeg"
#define Extensions[3] ".png"
#define Extensions[4] ".tif"
#define Extensions[5] ".tiff"
#define Extensions[6] ".bmp"

[Setup]
; AppId identifies the installation for upgrades and uninstall: never change it.
AppId={{6F6D96D4-7EC1-4BF0-ABD6-0F7191E60914}
AppName=dentsend
AppVersion={#AppVersion}
AppVerName=dentsend {#AppVersion}
AppPublisher=dentsend contributors
AppCopyright=(c) dentsend contributors, MIT licence
VersionInfoVersion={#AppVersionNumbers}
VersionInfoProductVersion={#AppVersionNumbers}
VersionInfoTextVersion={#AppVersion}
VersionInfoProductTextVersion={#AppVersion}
VersionInfoDescription=dentsend setup
VersionInfoCompany=dentsend contributors
; Per user: {autopf} is %LOCALAPPDATA%\Programs when installing without administrator rights.
PrivilegesRequired=lowest
DefaultDirName={autopf}\dentsend
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 runs on Windows 10 1809 and later.
MinVersion=10.0.17763
LicenseFile=..\..\LICENSE
SetupIconFile=..\..\resources\icons\dentsend.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName=dentsend
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
OutputDir=..\..\dist
OutputBaseFilename=dentsend-{#AppVersion}-windows-x64-setup
; Explorer and cmd.exe pick up the new menu entries and PATH without a restart.
ChangesAssociations=yes
ChangesEnvironment=yes
; A running dentsend is asked to close (Restart Manager) before its files are replaced.
CloseApplications=yes
#ifdef SIGN
; iscc /Sdentsend=... defines the "dentsend" sign tool; the setup and its uninstaller get signed.
SignTool=dentsend
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "sendto"; Description: "Add dentsend to Explorer's ""Send to"" menu (sends several files at once)"
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the dentsend command to PATH (for the command line)"; Flags: unchecked

[InstallDelete]
; An upgrade replaces the whole library folder: files a previous version had must not linger.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\dentsend"; Filename: "{app}\{#AppExe}"; Comment: "Send radiographs, de-identified and encrypted"; AppUserModelID: "org.dentsend.dentsend"
Name: "{autodesktop}\dentsend"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon; AppUserModelID: "org.dentsend.dentsend"
Name: "{usersendto}\dentsend"; Filename: "{app}\{#AppExe}"; Tasks: sendto

[Registry]
; A ProgID of our own: listed under "Open with" without taking over the files' default program.
Root: HKCU; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "Radiograph (dentsend)"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe},0"
Root: HKCU; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "dentsend"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
; Win+R "dentsend" starts the app.
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\App Paths\{#CliExe}"; ValueType: string; ValueName: ""; ValueData: "{app}\{#AppExe}"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\App Paths\{#CliExe}"; ValueType: string; ValueName: "Path"; ValueData: "{app}"
; The command-line program on the user's PATH (task "addtopath"; removed again by [Code] on uninstall).
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

; Per extension: "Send with dentsend" (SystemFileAssociations adds a verb whatever program owns the
; type), "Open with" (OpenWithProgids) and the Applications key's SupportedTypes.
#define I
#sub EmitExtension
Root: HKCU; Subkey: "Software\Classes\SystemFileAssociations\{#Extensions[I]}\shell\dentsend.send"; ValueType: string; ValueName: ""; ValueData: "Send with dentsend"; Flags: uninsdeletekey
Root: HKCU; Subkey: "Software\Classes\SystemFileAssociations\{#Extensions[I]}\shell\dentsend.send"; ValueType: string; ValueName: "Icon"; ValueData: "{app}\{#AppExe},0"
; Player: offered however many files are selected (the default hides it above 15). Explorer starts
; one process per file; each hands its file to the first window (gui/instance.py).
Root: HKCU; Subkey: "Software\Classes\SystemFileAssociations\{#Extensions[I]}\shell\dentsend.send"; ValueType: string; ValueName: "MultiSelectModel"; ValueData: "Player"
Root: HKCU; Subkey: "Software\Classes\SystemFileAssociations\{#Extensions[I]}\shell\dentsend.send\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#AppExe}"" ""%1"""
Root: HKCU; Subkey: "Software\Classes\{#Extensions[I]}\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue
Root: HKCU; Subkey: "Software\Classes\Applications\{#AppExe}\SupportedTypes"; ValueType: string; ValueName: "{#Extensions[I]}"; ValueData: ""
#endsub
#for {I = 0; I < DimOf(Extensions); I++} EmitExtension

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,dentsend}"; Flags: nowait postinstall skipifsilent

[Code]
const
  EnvironmentKey = 'Environment';

{ True unless Dir is already one of the entries of the user's PATH. }
function NeedsAddPath(Dir: string): Boolean;
var
  Current: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, EnvironmentKey, 'Path', Current) then
    Result := True
  else
    Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Current) + ';') = 0;
end;

{ Take the install folder out of the user's PATH again when dentsend is uninstalled. }
procedure RemoveFromPath(Dir: string);
var
  Current, Entry, Kept: string;
  Separator: Integer;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, EnvironmentKey, 'Path', Current) then
    exit;
  Kept := '';
  Current := Current + ';';
  while Current <> '' do
  begin
    Separator := Pos(';', Current);
    Entry := Copy(Current, 1, Separator - 1);
    Delete(Current, 1, Separator);
    if (Entry <> '') and (CompareText(Entry, Dir) <> 0) then
    begin
      if Kept <> '' then
        Kept := Kept + ';';
      Kept := Kept + Entry;
    end;
  end;
  RegWriteExpandStringValue(HKEY_CURRENT_USER, EnvironmentKey, 'Path', Kept);
end;

procedure CurUninstallStepChanged(CurUninstallStep: TUninstallStep);
begin
  if CurUninstallStep = usPostUninstall then
    RemoveFromPath(ExpandConstant('{app}'));
end;
