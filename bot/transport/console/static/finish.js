"use strict";
document.forms[0].submit();
