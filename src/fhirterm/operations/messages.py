"""Message texts of the terminology operations.

The wording is the HL7 terminology ecosystem's (tx.fhir.org), so that clients
and the ecosystem test suite see the same text from any server. Placeholders
are named; callers use ``str.format``.
"""

UNKNOWN_VS = "A definition for the value Set '{url}' could not be found"
VS_CIRCULAR = "Found a circularity pointing to {url} processing ValueSet with pathway [{path}]"
UNKNOWN_CS = (
    "A definition for CodeSystem '{system}' could not be found, so the code cannot be validated"
)
UNKNOWN_CS_VERSION = (
    "A definition for CodeSystem '{system}' version '{version}' could not be found, "
    "so the code cannot be validated. Valid versions: {known}"
)
UNKNOWN_CS_VERSION_NONE = (
    "A definition for CodeSystem '{system}' version '{version}' could not be found, "
    "so the code cannot be validated. No versions of this code system are known"
)
UNKNOWN_CODE_V = "Unknown code '{code}' in the CodeSystem '{system}' version '{version}'"
UNKNOWN_CODE = "Unknown code '{code}' in the CodeSystem '{system}'"
UNKNOWN_CODE_FRAGMENT = (
    "Unknown Code '{code}' in the CodeSystem '{system}' version '{version}' - note that the "
    "code system is labeled as a fragment, so the code may be valid in some other fragment"
)
MISMATCH = (
    "The code system '{system}' version '{version}' in the ValueSet include is different to "
    "the one in the value ('{coding}')"
)
MISMATCH_DEFAULT = (
    "The code system '{system}' version '{version}' for the versionless include in the "
    "ValueSet include is different to the one in the value ('{coding}')"
)
MISMATCH_CHANGED = (
    "The code system '{system}' version '{version}' resulting from the version '{vs}' in the "
    "ValueSet include is different to the one in the value ('{coding}')"
)
VERSION_CHECK = (
    "The version '{version}' is not allowed for system '{system}': required to be '{check}' "
    "by a version-check parameter"
)
NOT_IN_VS = "The provided code {codes} was not found in the value set '{vs}'"
CC_NOT_IN_VS = "No valid coding was found for the value set '{vs}'"
NO_SYSTEM = (
    "Coding has no system. A code with no system has no defined meaning, and it cannot be "
    "validated. A system should be provided"
)
INFER_NONE = "The System URI could not be determined for the code '{code}' in the ValueSet '{vs}'"
# (ours: INFER_NONE naming the code systems searched, worded like INFER_MULTIPLE)
INFER_NONE_IN = (
    "The System URI could not be determined for the code '{code}' in the ValueSet '{vs}': "
    "value set expansion has no matches in [{systems}]"
)
INFER_MULTIPLE = (
    "The System URI could not be determined for the code '{code}' in the ValueSet '{vs}': "
    "value set expansion has multiple matches: [{systems}]"
)
RELATIVE_SYSTEM = "Coding.system must be an absolute reference, not a local reference"
SUPPLEMENT_AS_SYSTEM = (
    "CodeSystem {name} is a supplement, so can't be used as a value in Coding.system"
)
SYSTEM_IS_VS = "The Coding references a value set, not a code system ('{url}')"
ABSTRACT = "Code '{system}#{code}' is abstract, and not allowed in this context"
NOT_ACTIVE = "The concept '{code}' is valid but is not active"
INACTIVE_FOUND = "The concept '{code}' has a status of {status} and its use should be reviewed"
DEPRECATED_FOUND = "The concept '{code}' is deprecated and its use should be reviewed"
CASE_DIFFERENCE = (
    "The code '{code}' differs from the correct code '{real}' by case. Although the code "
    "system '{system}' is case insensitive, implementers are strongly encouraged to use the "
    "correct case anyway"
)
DEPRECATED_IN_VS = (
    "The presence of the concept '{code}' in the system '{system}' in the value set {vs} is "
    "marked with a status of {status} and its use should be reviewed"
)
STATUS_REF = "Reference to {status} {type} {url}"
WRONG_DISPLAY = "Wrong Display Name '{display}' for {target}."
INACTIVE_DISPLAY = (
    "'{display}' is no longer considered a correct display for code '{code}' "
    "(status = {status}). The correct display is one of {valid}."
)
WRONG_DISPLAY_WS = "Wrong whitespace in Display Name '{display}' for {target}."
VALID_ONE = " Valid display is {present} (for the language(s) '{langs}')"
VALID_MANY = " Valid display is one of {n} choices: {present} (for the language(s) '{langs}')"
NONE_FOR_LANG_OK = (
    "There are no valid display names found for the code {target} for language(s) '{langs}'. "
    "The display is '{display}' which is a valid display for the default language"
)
NONE_FOR_LANG_ERR = (
    "Wrong Display Name '{display}' for {target}. There are no valid display names found for "
    "language(s) '{langs}'. Default display is '{default}'"
)
NOT_ENOUGH_INFO = (
    "The system {system} was found but did not contain enough information to properly "
    'validate the code "{code}" ("{display}") (mode = {mode})'
)
FILTER_NO_VALUE = "The system {system} filter with property = {prop}, op = {op} has no value"
