; Inno Setup 6 script: installs Signoff's onedir bundle (packaging\dist\signoff, made by
; PyInstaller from packaging\signoff.spec on Windows) with a Start-menu entry and an uninstaller.
;
;   pyinstaller --noconfirm --distpath packaging\dist --workpath packaging\dist\.work packaging\signoff.spec
;   iscc packaging\windows\signoff.iss          -> packaging\dist\Signoff-<version>-setup.exe
;
; The version comes from Signoff.exe's version resource (the spec writes app.__version__ there);
; iscc /DAppVersion=1.2.3 overrides it. Installs per user by default (no administrator needed);
; the wizard offers an all-users install. Uninstalling keeps the user's data
; (%LOCALAPPDATA%\Signoff: replica, audit log, settings): that is the audit trail.

#define AppName "Signoff"
#define AppExe "Signoff.exe"
#define Bundle "..\dist\signoff"
#ifndef AppVersion
  #define AppVersion GetStringFileInfo(AddBackslash(SourcePath) + Bundle + "\" + AppExe, "ProductVersion")
#endif

[Setup]
; Never change AppId: it is how Windows recognises an upgrade of the same application.
AppId={{E40684BF-15C7-5858-A3ED-35CDD7ACAA0F}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=Signoff
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 runs on Windows 10 and later.
MinVersion=10.0
SetupIconFile=..\..\resources\icons\signoff.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
OutputDir=..\dist
OutputBaseFilename=Signoff-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole onedir bundle: Signoff.exe (the window), signoff-cli.exe (the console subcommands:
; ingest, export, sync, audit, smoke) and _internal\.
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Review the tickets your AI pipelines hand to people"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

